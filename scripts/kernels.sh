#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kernels.sh: checks that the built BPF objects pass the verifier on Debian 12's stock kernel (6.1, booted under qemu) or, with --host, on this machine's kernel, and prints each program's processed-instruction count.
#
# Usage: bash scripts/kernels.sh [--host] [--log] [OBJ...]   (--log: a failed program's last 60 verifier-log lines too)     (default: build/bpf/xlvs.o, then the
# other build/bpf/*.o)
# Prints "<kernel release> <object> <program> loaded <insns>" or "... FAILED <verifier's reason line>" per program,
# then one JSON line with the same data; exits 1 if any program failed to load, 2 if the check itself could not run.
#
# Why a small loader (vload, C below) rather than `bpftool -d prog loadall`:
#  - bpftool -d asks the verifier for its full per-instruction log (level 1|2|4). For xlvs.o that log is ~1.3 GB and
#    takes ~90 s on the host; under qemu's software emulation it would take far longer, and on 6.1 a log beyond the
#    kernel's 1 GiB cap makes libbpf's grow-and-retry end in EINVAL, i.e. a failure that is the log's, not the program's.
#    Level 4 (BPF_LOG_STATS) alone still gives "processed N insns" and, on a failure, the verifier's reason line.
#  - loadall stops at the first program that fails; vload loads each program on its own (the others' autoload off),
#    so every program gets a verdict and a count, and the count is unambiguously that program's.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=/var/cache/xlvs-kernels     # downloaded kernels, kept between runs (not in the repo)
vm_timeout=900                    # seconds for boot + verification under TCG (no KVM here)

mode=vm
vlog=0
while [ $# -gt 0 ]; do
  case "$1" in
    --host) mode=host; shift ;;
    --log) vlog=1; shift ;;
    *) break ;;
  esac
done
if [ $# -gt 0 ]; then
  objs=("$@")
else
  objs=(build/bpf/xlvs.o)
  for o in build/bpf/*.o; do [ "$o" = build/bpf/xlvs.o ] || objs+=("$o"); done
fi
for o in "${objs[@]}"; do
  [ -f "$o" ] || { echo "kernels: no such object: $o (run: bash scripts/build.sh)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "kernels: needs root (apt-get, loading BPF programs)" >&2; exit 2; }

# --- packages: installed only when missing, so a second run is quiet ---------------------------------------------
pkgs=(gcc libc6-dev libbpf-dev libelf-dev zlib1g-dev)          # static libbpf/libelf/zlib for the loader
[ "$mode" = vm ] && pkgs+=(qemu-system-x86 busybox-static cpio)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kernels: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2> >(grep -v '^debconf: delaying' >&2)
fi

work=$(mktemp -d /tmp/xlvs-kernels.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- the loader: one line per program, "R <object> <program> <errno or 0> <insns or -1> <reason>", tab-separated --
# Linked statically so the initramfs needs no shared libraries.
cat >"$work/vload.c" <<'EOF'
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

static char last_warn[512];

/* libbpf's own messages are silenced, but its last warning is kept: it is the reason when a load fails before the
 * verifier runs (a map that cannot be created, a relocation against a missing kernel type, ...). */
static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	if (line[0] && !strstr(line, "PROG LOAD LOG"))
		snprintf(last_warn, sizeof(last_warn), "%s", line);
	return 0;
}

int main(int argc, char **argv)
{
	static char log[1 << 20];
	int vlog = 0;
	libbpf_set_print(print_fn);
	if (argc > 1 && !strcmp(argv[1], "--log")) {
		vlog = 1;
		argv++;
		argc--;
	}
	for (int a = 1; a < argc; a++) {
		const char *base = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
		struct bpf_object *obj = bpf_object__open_file(argv[a], NULL);
		struct bpf_program *p;
		int n = 0;
		if (!obj) {
			printf("R\t%s\t-\t%d\t-1\t%s\n", base, -errno, last_warn[0] ? last_warn : strerror(errno));
			continue;
		}
		bpf_object__for_each_program(p, obj) n++;
		bpf_object__close(obj);
		for (int i = 0; i < n; i++) {
			struct bpf_program *target = NULL;
			long insns = -1;
			char reason[512] = "";
			int j = 0, err;
			obj = bpf_object__open_file(argv[a], NULL);
			bpf_object__for_each_program(p, obj) {
				bpf_program__set_autoload(p, j == i);
				if (j++ == i)
					target = p;
			}
			log[0] = 0;
			last_warn[0] = 0;
			bpf_program__set_log_level(target, vlog ? 1 | 4 : 4); /* BPF_LOG_STATS: the stats, and error lines only */
			bpf_program__set_log_buf(target, log, sizeof(log));
			err = bpf_object__load(obj);
			if (err && vlog) { /* the last 60 lines, before strtok cuts the log up */
				int lines = 0;
				char *q = log + strlen(log);
				while (q > log && lines <= 60)
					if (*--q == '\n')
						lines++;
				printf("L\t%s\n", q);
			}
			/* the log ends in "processed N insns (limit ...) ..."; a failure's reason is the last line before it */
			for (char *l = strtok(log, "\n"); l; l = strtok(NULL, "\n")) {
				if (sscanf(l, "processed %ld insns", &insns) == 1)
					continue;
				if (!strncmp(l, "verification time", 17) || !strncmp(l, "stack depth", 11))
					continue;
				if (insns < 0)
					snprintf(reason, sizeof(reason), "%s", l);
			}
			if (err && !reason[0])
				snprintf(reason, sizeof(reason), "%s", last_warn[0] ? last_warn : strerror(-err));
			printf("R\t%s\t%s\t%d\t%ld\t%s\n", base, bpf_program__name(target), err, insns, err ? reason : "");
			fflush(stdout);
			bpf_object__close(obj);
		}
	}
	return 0;
}
EOF
gcc -O2 -static -o "$work/vload" "$work/vload.c" -l:libbpf.a -lelf -lz

# --- run: on the host directly, or in a qemu VM whose initramfs holds busybox, the loader and the objects ---------
if [ "$mode" = host ]; then
  kernel=$(uname -r)
  "$work/vload" $([ $vlog = 1 ] && echo --log) "${objs[@]}" >"$work/results"
else
  # The kernel linux-image-amd64 currently points at (e.g. linux-image-6.1.0-57-amd64); only its vmlinuz is kept.
  kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}'; }
  pkg=$(kpkg)
  [ -n "$pkg" ] || { apt-get update -qq; pkg=$(kpkg); }
  [ -n "$pkg" ] || { echo "kernels: apt knows no linux-image-amd64" >&2; exit 2; }
  ver=$(apt-cache show --no-all-versions "$pkg" | awk '/^Version:/ {print $2; exit}')
  vmlinuz="$cache/${pkg}_$ver/vmlinuz"
  if [ ! -f "$vmlinuz" ]; then
    echo "kernels: fetching $pkg $ver" >&2
    # root's apt-get download warns that user _apt cannot write the folder; the sandbox user is set to root instead
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver")
    mkdir -p "$(dirname "$vmlinuz")"
    dpkg-deb --fsys-tarfile "$work/${pkg}_"*.deb | tar -xO "./boot/vmlinuz-${pkg#linux-image-}" >"$vmlinuz.tmp"
    mv "$vmlinuz.tmp" "$vmlinuz"
    rm -f "$work/${pkg}_"*.deb
  fi

  # The Debian kernel has virtio, 9p and block drivers as modules; an initramfs that holds everything needs none.
  root="$work/root"
  mkdir -p "$root"/{bin,dev,proc,sys,obj}
  cp /bin/busybox "$work/vload" "$root/bin/"
  mknod "$root/dev/console" c 5 1     # init's stdout before devtmpfs is mounted
  args=()
  for i in "${!objs[@]}"; do          # one folder each, so two objects of the same name do not collide
    mkdir -p "$root/obj/$i"
    cp "${objs[$i]}" "$root/obj/$i/"
    args+=("/obj/$i/$(basename "${objs[$i]}")")
  done
  cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys            # /sys/kernel/btf/vmlinux: libbpf reads the kernel's BTF
mount -t devtmpfs dev /dev
echo 1 >/proc/sys/kernel/printk      # keep kernel messages from cutting into the results on the console
echo "@@XLVS-BEGIN \$(uname -r)"
/bin/vload $([ $vlog = 1 ] && echo --log) ${args[*]}
echo "@@XLVS-END"
poweroff -f
EOF
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

  # No KVM: TCG emulates the CPU in software. Boot takes ~5 s; verification is several times slower than on the host
  # (a run with ~1M processed insns in all took ~20 s), so the timeout is generous.
  # -no-reboot with panic=-1 makes a kernel panic end qemu at once instead of hanging until the timeout.
  rc=0
  timeout "$vm_timeout" qemu-system-x86_64 -m 4G -smp 2 -nographic -no-reboot -nic none \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" -append 'console=ttyS0 panic=-1 quiet' \
    </dev/null >"$work/console" 2>&1 || rc=$?
  # the console has CRLF line ends and terminal escapes (SeaBIOS, the kernel) that can precede a marker on its line
  tr -d '\r' <"$work/console" >"$work/console.txt"
  if ! grep -q '@@XLVS-END' "$work/console.txt"; then
    echo "kernels: the VM did not finish (qemu exit $rc; 124 = timed out after ${vm_timeout}s); its console's end:" >&2
    tail -n 30 "$work/console.txt" >&2
    exit 2
  fi
  kernel=$(sed -n 's/.*@@XLVS-BEGIN \([^ ]*\).*/\1/p' "$work/console.txt" | head -n1)
  sed -n '/@@XLVS-BEGIN /,/@@XLVS-END/p' "$work/console.txt" >"$work/results"
fi

# --- report ---------------------------------------------------------------------------------------------------------
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
failed=0
entries=()
while IFS=$'\t' read -r tag obj prog err insns reason; do
  [ "$tag" = R ] || continue
  reason=$(printf '%s' "$reason" | tr -d '\000-\037')
  count=$([ "$insns" -ge 0 ] && echo "$insns" || echo null)
  if [ "$err" = 0 ]; then
    echo "$kernel $obj $prog loaded $insns"
    entries+=("{\"object\":$(json_str "$obj"),\"program\":$(json_str "$prog"),\"loaded\":true,\"insns\":$count}")
  else
    failed=1
    echo "$kernel $obj $prog FAILED $reason"
    entries+=("{\"object\":$(json_str "$obj"),\"program\":$(json_str "$prog"),\"loaded\":false,\"insns\":$count,\"error\":$(json_str "$reason")}")
  fi
done <"$work/results"
# --log: everything the loader printed between its result lines (the failed programs' log tails), on stderr
[ $vlog = 1 ] && grep -v -e '^R	' -e '@@XLVS' "$work/results" | sed 's/^L	//' >&2
if [ ${#entries[@]} -eq 0 ]; then
  echo "kernels: no results (loader output: $(head -c 500 "$work/results"))" >&2
  exit 2
fi
(IFS=,; echo "{\"kernel\":$(json_str "$kernel"),\"results\":[${entries[*]}]}")
exit "$failed"

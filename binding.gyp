# binding.gyp: builds build/Release/xlvs_native.node, the thin libbpf addon in native/.
{
  "targets": [
    {
      "target_name": "xlvs_native",
      "sources": [
        "native/addon.cc",
        "native/bpf_map.cc",
        "native/bpf_map_mmap.cc",
        "native/bpf_object.cc",
        "native/btf.cc",
        "native/errors.cc",
        "native/libbpf_log.cc",
        "native/netlink.cc",
        "native/packet_socket.cc",
        "native/probe.cc",
        "native/ring_buffer.cc",
        "native/test_run.cc",
        "native/xdp_link.cc"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}

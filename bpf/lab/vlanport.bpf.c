/* SPDX-License-Identifier: GPL-2.0-only */
/* vlanport.bpf.c: the lab's stand-in for VLAN devices (the kernel lacks 8021q): tc programs moving a tag between a trunk and a veth. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * Compiled per host by src/lab/vlan.ts with its VLANs: LAB_Vn the VLAN id, LAB_Dn the ifindex of its VLAN device
 * (eth0.<id>, one end of a veth pair, with the trunk's MAC) and LAB_Qn that of the pair's other end; LAB_TRUNK the
 * trunk's ifindex. Up to two VLANs per host (0: unused).
 */
#ifndef LAB_V2
#define LAB_V2 0
#define LAB_D2 0
#define LAB_Q2 0
#endif

/* The trunk's ingress (after the kernel moved the tag into the skb): a frame of one of the host's VLANs is untagged and received by its VLAN device. */
SEC("tc")
int vlan_down(struct __sk_buff *skb)
{
	__u32 vid = skb->vlan_tci & 0x0fff, dev;

	if (!skb->vlan_present)
		return TC_ACT_OK;
	if (vid == LAB_V1)
		dev = LAB_D1;
	else if (LAB_V2 && vid == LAB_V2)
		dev = LAB_D2;
	else
		return TC_ACT_SHOT; /* another VLAN: a switch's access port would not have delivered it */
	if (bpf_skb_vlan_pop(skb))
		return TC_ACT_SHOT;
	return bpf_redirect(dev, BPF_F_INGRESS);
}

/* What a VLAN device sends arrives at the pair's other end: tagged and sent out of the trunk. */
SEC("tc")
int vlan_up(struct __sk_buff *skb)
{
	__u32 vid;

	if (skb->ifindex == LAB_Q1)
		vid = LAB_V1;
	else if (LAB_Q2 && skb->ifindex == LAB_Q2)
		vid = LAB_V2;
	else
		return TC_ACT_SHOT;
	if (bpf_skb_vlan_push(skb, bpf_htons(0x8100), vid))
		return TC_ACT_SHOT;
	return bpf_redirect(LAB_TRUNK, 0);
}

char LICENSE[] SEC("license") = "GPL";

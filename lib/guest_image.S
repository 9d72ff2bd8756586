/* SPDX-License-Identifier: GPL-2.0 */
/* The flat guest image built from guest_code/<arch>/, as read-only bytes. */
	.section .rodata.guest_image, "a"
	.balign 16
	.global guest_image_start
guest_image_start:
	.incbin GUEST_IMAGE
	.global guest_image_end
guest_image_end:
	.section .note.GNU-stack, "", %progbits

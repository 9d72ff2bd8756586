/* SPDX-License-Identifier: GPL-2.0 */
/* The guest image is linked to run where the host copies it: ARCH_RAM_GPA
 * (include/<arch>/layout.h). */
#include "layout.h"

ENTRY(_start)
SECTIONS
{
	. = ARCH_RAM_GPA;
	.text : { *(.text.entry) *(.text .text.*) }
	.rodata : { *(.rodata .rodata.*) }
	.data : { *(.data .data.*) }
	.bss : { *(.bss .bss.* COMMON) }
	/DISCARD/ : { *(.comment) *(.note*) *(.eh_frame*) }
	ASSERT(. - ARCH_RAM_GPA <= ARCH_IMAGE_MAX, "guest image exceeds ARCH_IMAGE_MAX")
}

/* SPDX-License-Identifier: MIT */
/*
 * exit-nolibc: a static program without libc that exits 0 at once: what an exec costs the
 * kernel alone (bench/run's first floor row). No ld.so, no glibc start-up. x86-64 only.
 */

void _start(void);

void _start(void) {
        __asm__ volatile("mov $60, %eax\n\t"    /* exit */
                         "xor %edi, %edi\n\t"
                         "syscall");
        __builtin_unreachable();
}

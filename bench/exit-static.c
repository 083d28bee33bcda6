/* SPDX-License-Identifier: MIT */
/*
 * exit-static: a statically linked glibc program that exits 0 at once: the kernel's exec plus
 * glibc's own start-up (CPU features, caches, TLS, IRELATIVE relocations), without ld.so and
 * shared libraries. bench/run sets it between exit-nolibc and /bin/true.
 */

int main(void) {
        return 0;
}

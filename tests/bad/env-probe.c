/* SPDX-License-Identifier: MIT */
/* For tests/bad/env.py: call dovesd_service_new() on whatever environment and fds it is given
 * and print "new=R" and "error=TEXT". Never serves. */

#include <stdio.h>
#include <stdlib.h>

#include "dovesd.h"

int main(void) {
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        r = dovesd_service_new(&s, &error);
        printf("new=%d\nerror=%s\n", r, error ?: "");
        free(error);
        dovesd_service_unref(s);
        return 0;
}

/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include "model.h"

/* Write every service of c as `doveconf -a` prints its section. Returns 0 or -errno. */
int config_dump(const config *c, FILE *f);

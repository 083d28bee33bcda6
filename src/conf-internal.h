/* SPDX-License-Identifier: MIT */
#pragma once

/* The parser's own limits against hostile input (conf.c). */

#include "conf.h"
#include "macro.h"

#define CONF_MAX_FILE_SIZE      (16U * 1024U * 1024U)   /* bytes per file */
#define CONF_MAX_VALUE_FILE_SIZE (1024U * 1024U)        /* bytes read by key = <file */
#define CONF_MAX_DEPTH          64U                     /* nested sections */
#define CONF_MAX_INCLUDE_DEPTH  32U                     /* nested !include */
#define CONF_MAX_INCLUDES       1000U                   /* files included in total */

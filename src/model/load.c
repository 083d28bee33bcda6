/* SPDX-License-Identifier: MIT */

/*
 * config_load(): the steps from a file to a model. The parser reads the file into a syntax
 * tree with the model's schema (schema.c); the tree becomes services, listeners and globals
 * (build.c); doveconf's checks on the whole tree run (conf_check()); then validation,
 * effective values and doveconf's order (validate.c).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void state_done(config_state *st) {
        free(st->hash);
        config_free(st->live);
        config_free(st->cfg);
}

int config_load(const char *path, config **ret, conf_diags *diags) {
        config_state st = {};
        conf_tree *t = NULL;
        int r, q;

        r = config_new(&st.cfg);
        if (r < 0)
                return r;
        r = config_new(&st.live);
        if (r < 0)
                goto finish;
        st.cfg->path = strdup(path);
        if (!st.cfg->path) {
                r = -ENOMEM;
                goto finish;
        }

        r = conf_parse(path, &model_schema, &st, diags, &t);
        if (r < 0 && r != -EINVAL)
                goto finish;
        q = config_build(&st, t, diags);
        if (q < 0 && q != -EINVAL) {
                r = q;
                goto finish;
        }
        if (r < 0 || q < 0) {
                r = -EINVAL;
                goto finish;
        }

        r = conf_check(t, diags);
        if (r < 0)
                goto finish;

        r = config_finish(&st, diags);
        if (r < 0)
                goto finish;

        st.cfg->tree = TAKE_PTR(t);
        *ret = TAKE_PTR(st.cfg);
        r = 0;
finish:
        conf_tree_free(t);
        state_done(&st);
        return r;
}

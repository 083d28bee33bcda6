/* SPDX-License-Identifier: MIT */

#include <stdlib.h>

#include "unit-set.h"

void unit_set_done(unit_set *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_entries; i++) {
                free(s->entries[i].path);
                free(s->entries[i].content);
        }
        free(s->entries);
        for (size_t i = 0; i < s->n_notes; i++) {
                free(s->notes[i].file);
                free(s->notes[i].text);
        }
        free(s->notes);
        *s = (unit_set) {};
}

/* fuzz_spec.c - a migration spec as a user posts it: parsed and checked, every problem listed,
 * never a crash, and an accepted spec within its limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ferry_spec *spec = NULL;
    ferry_spec_problems problems = {0};
    ferry_err err;
    ferry_rc rc = ferry_spec_parse((const char *)data, size, &spec, &problems, &err);
    if (rc == FERRY_OK) {
        if (spec == NULL || spec->n_envs == 0 || spec->n_envs > FERRY_SPEC_ENVS_MAX)
            abort();
        for (size_t i = 0; i < spec->n_envs; i++)
            (void)ferry_spec_env_find(spec, spec->envs[i].name);
    } else if (spec != NULL || problems.count == 0) {
        abort(); /* a refused spec says why, and gives no spec */
    }
    ferry_spec_free(spec);
    ferry_spec_problems_cleanup(&problems);
    return 0;
}

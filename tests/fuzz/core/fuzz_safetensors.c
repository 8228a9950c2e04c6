/* libFuzzer harness for the safetensors reader: any bytes must give a file whose views stay inside
 * it, or a clean error — never a crash, a leak or a read past the input. Seed it with files from
 * `unit_test_safetensors --write corpus/sample.safetensors`. */
#include <stddef.h>
#include <stdint.h>

#include "crescendo/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink; /* keeps the reads below from being optimized away */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cr_safetensors *file;
    if (cr_safetensors_parse(data, size, "fuzz", &file) != CR_STATUS_OK) return 0;
    /* read every byte handed out, so AddressSanitizer sees a view that leaves its block */
    unsigned sum = 0;
    for (int i = 0; i < cr_safetensors_count(file); i++) {
        const cr_named_tensor *t = cr_safetensors_at(file, i);
        const unsigned char *bytes = t->tensor.data;
        for (size_t k = 0; k < cr_tensor_bytes(&t->tensor); k++) sum += bytes[k];
        sum += (unsigned)(cr_safetensors_find(file, t->name) == &t->tensor);
    }
    for (int i = 0; i < cr_safetensors_metadata_count(file); i++) {
        const cr_metadata_entry *m = cr_safetensors_metadata_at(file, i);
        sum += (unsigned)(cr_safetensors_metadata(file, m->key) == m->value);
    }
    cr_safetensors_close(file);
    sink = sum;
    return 0;
}

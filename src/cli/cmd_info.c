/* `crescendo info`: what this build and this machine offer, the first thing to paste in a bug report
 * and the quickest way to see why training is slower than expected (no AVX-512, one thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "crescendo/backend.h"
#include "crescendo/distributed.h"
#include "crescendo/version.h"

/* The features that decide which kernels run: oneDNN's AVX-512 paths, bf16 convolutions, AMX. */
static const char *const cpu_features[] = {"avx2", "avx512f", "avx512_bf16", "amx_tile",
                                           "amx_bf16"};
enum { FEATURE_COUNT = sizeof cpu_features / sizeof cpu_features[0] };

typedef struct cpu_description {
    char model[256];
    int has[FEATURE_COUNT]; /* 1, 0, or -1 when unknown */
} cpu_description;

static bool has_word(const char *list, const char *word) {
    size_t length = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word)) {
        bool starts = p == list || p[-1] == ' ' || p[-1] == '\t';
        bool ends = p[length] == '\0' || p[length] == ' ' || p[length] == '\n';
        if (starts && ends) return true;
    }
    return false;
}

/* The value after "key<spaces>:" on a /proc/cpuinfo line, or NULL when the line is another key. */
static const char *cpuinfo_value(const char *line, const char *key) {
    size_t length = strlen(key);
    if (strncmp(line, key, length) != 0) return NULL;
    const char *p = line + length;
    while (*p == ' ' || *p == '\t') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static void describe_cpu(cpu_description *cpu) {
    snprintf(cpu->model, sizeof cpu->model, "unknown");
    for (int i = 0; i < FEATURE_COUNT; i++) cpu->has[i] = -1;
    FILE *file = fopen("/proc/cpuinfo", "r");
    if (!file) return;
    char *line = NULL;
    size_t capacity = 0;
    bool model_seen = false, flags_seen = false;
    while ((!model_seen || !flags_seen) && getline(&line, &capacity, file) > 0) {
        const char *value;
        if (!model_seen && (value = cpuinfo_value(line, "model name"))) {
            snprintf(cpu->model, sizeof cpu->model, "%.*s", (int)strcspn(value, "\n"), value);
            model_seen = true;
        } else if (!flags_seen && (value = cpuinfo_value(line, "flags"))) {
            for (int i = 0; i < FEATURE_COUNT; i++) cpu->has[i] = has_word(value, cpu_features[i]);
            flags_seen = true;
        }
    }
    free(line);
    fclose(file);
}

/* The build and the machine, then what the CPU backend reports: the threads it computes with and
 * oneDNN's kernels, and so whether --precision bf16 can run. */
static cr_status print_info(void) {
    printf("crescendo %s\n", cr_version());

    const cr_device devices[] = {CR_DEVICE_CPU, CR_DEVICE_CUDA};
    printf("backends: ");
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++)
        printf("%s%s (%s)", i ? ", " : "", cr_device_name(devices[i]),
               cr_backend_available(devices[i]) ? "available" : "not available");
    printf("\n");

    cpu_description cpu;
    describe_cpu(&cpu);
    printf("cpu:      %s\n", cpu.model);
    printf("features:");
    for (int i = 0; i < FEATURE_COUNT; i++)
        printf(" %s %s%s", cpu_features[i],
               cpu.has[i] < 0 ? "unknown" : cpu.has[i] ? "yes" : "no",
               i + 1 < FEATURE_COUNT ? "," : "\n");

    cr_backend *be = NULL;
    cr_backend_info info;
    CR_TRY(cr_backend_create(CR_DEVICE_CPU, 0, &be));
    cr_status s = cr_backend_describe(be, &info);
    cr_backend_destroy(be);
    if (s != CR_STATUS_OK) return s;
    printf("cores:    %ld online, %d usable by this process\n", sysconf(_SC_NPROCESSORS_ONLN),
           info.processors);
    printf("openmp:   %d threads (OMP_NUM_THREADS %s)\n", info.threads,
           info.omp_num_threads[0] ? info.omp_num_threads : "unset");
    char label[sizeof info.library + 1];
    snprintf(label, sizeof label, "%s:", info.library);
    printf("%-9s %s, kernels for %s\n", label, info.version, info.isa);
    printf("bf16:     %s (%s kernels%s)\n", info.bf16 ? "supported" : "not supported", info.isa,
           info.bf16 ? "" : "; bf16 needs AVX512-BF16 or AMX");
    char mpi[256];
    cr_dist_library(mpi, sizeof mpi);
    printf("mpi:      %s%s\n", mpi, cr_dist_available() ? " (mpirun -np N crescendo train ...)"
                                                         : "");
    return CR_STATUS_OK;
}

int cr_cmd_info(int argc, char **argv) {
    static const cr_option options[] = {{NULL}};
    static const cr_command_spec spec = {
        .name = "info",
        .usage = "[options]",
        .description = "Prints the version, the backends built in, the CPU model and the features "
                       "the kernels use (avx2, avx512f, avx512_bf16, amx), the core and OpenMP "
                       "thread counts, the oneDNN version and instruction set, and whether bf16 "
                       "arithmetic is supported.",
        .options = options,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    cr_status s = print_info();
    return s == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(s);
}

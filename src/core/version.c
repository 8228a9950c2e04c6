/* The version string, kept in one place for the program, the libraries and checkpoints. */
#include "crescendo/version.h"

#define CR_STR_(x) #x
#define CR_STR(x) CR_STR_(x)

const char *cr_version(void) {
    return CR_STR(CR_VERSION_MAJOR) "." CR_STR(CR_VERSION_MINOR) "." CR_STR(CR_VERSION_PATCH);
}

/* crescendo/version.h — the library's version, for `crescendo info` and checkpoint metadata. */
#ifndef CRESCENDO_VERSION_H
#define CRESCENDO_VERSION_H

#define CR_VERSION_MAJOR 0
#define CR_VERSION_MINOR 1
#define CR_VERSION_PATCH 0

/* "0.1.0" */
const char *cr_version(void);

#endif

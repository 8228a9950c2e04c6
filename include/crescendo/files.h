/* crescendo/files.h — small file-system helpers every module that writes results needs. */
#ifndef CRESCENDO_FILES_H
#define CRESCENDO_FILES_H

#include "crescendo/status.h"

/* Creates `path` and any missing parents, like `mkdir -p`. Succeeds when it already is a folder;
 * fails with CR_STATUS_IO naming the path otherwise. */
cr_status cr_make_dirs(const char *path);

#endif

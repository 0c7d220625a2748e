/*
 * secret: reads passwords, tokens and signing keys from small files (the
 * YAML only names the file).  With systemd's LoadCredential= a relative
 * name is found in $CREDENTIALS_DIRECTORY.  Secrets are never logged and
 * their buffers are wiped before they are freed.
 */
#ifndef PROMISED_SECRET_H
#define PROMISED_SECRET_H

#include <stddef.h>

/* Largest secret file accepted, in bytes. */
#define SECRET_MAX 4096

/* Where the secret named path lives: an absolute path as is; a relative
 * one in $CREDENTIALS_DIRECTORY when set and the file exists there, else
 * under dir (dir NULL: path as given).  Returns an owned string. */
char *secret_path(const char *dir, const char *path);

/* Reads the secret file path (resolved like secret_path(NULL, path)) into
 * an owned string without trailing whitespace; 0, or -1 with err set (too
 * large, empty, unreadable, not a regular file, NUL byte).  Free *out
 * with secret_free. */
int secret_read(const char *path, char **out, char *err, size_t errlen);

/* Wipes and frees a secret from secret_read; NULL is allowed. */
void secret_free(char *secret);

#endif

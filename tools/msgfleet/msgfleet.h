/* msgfleet: the operators' CLI; shared declarations of the subcommands. */
#ifndef MSGFLEET_H
#define MSGFLEET_H

#include <stddef.h>

/* Exit codes of every subcommand. */
#define MSGFLEET_EXIT_OK 0
#define MSGFLEET_EXIT_ERROR 1
#define MSGFLEET_EXIT_USAGE 2

/* A subcommand: argv[0] is the subcommand's name; returns an exit code above. */
typedef int (*msgfleet_cmd_fn)(int argc, char **argv);

typedef struct msgfleet_cmd {
    const char *name;
    const char *summary; /* one line for `msgfleet --help` */
    msgfleet_cmd_fn run;
} msgfleet_cmd;

/* Subcommands, one file each (cmd_<name>.c). Add new ones to the table in main.c. */
int cmd_migrate(int argc, char **argv);

/*
 * Find the repository's schemas/pg: $MF_SCHEMA_DIR, else a `schemas/pg` (holding
 * 0001_seed.sql) in the executable's directory or any parent of it, else in the working
 * directory or any parent, else <prefix>/share/msgfleet/schemas/pg, else the source tree the
 * binary was built from. Writes the path into buf; returns 0, or -1 when none exists.
 */
int msgfleet_schema_dir(char *buf, size_t cap);

#endif

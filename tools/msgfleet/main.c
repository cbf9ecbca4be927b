/* msgfleet: the operators' CLI; dispatches `msgfleet <subcommand> [options]`. */
#include <stdio.h>
#include <string.h>

#include "msgfleet.h"

static const msgfleet_cmd COMMANDS[] = {
    {"migrate", "apply the PostgreSQL migrations (schemas/pg) that are not applied yet",
     cmd_migrate},
    {"run", "start a run of a workflow (by id or name); --watch follows it", cmd_run},
    {"watch", "show a run's progress live until it ends", cmd_watch},
    {"summary", "print a run's summary: targets, sent, failed by code, types, cost, rate",
     cmd_summary},
    {"cancel", "stop a running run across the fleet; jobs not sent yet are cancelled", cmd_cancel},
    {"pause", "hold every running run of a workflow (and its schedule) until resumed", cmd_pause},
    {"resume", "continue the held runs of a paused workflow", cmd_resume},
    {"replay", "resend a run's failures as a new linked run; --dry-run counts first", cmd_replay},
    {"dlq", "list the dead-letter topic with reasons, or replay it once the cause is fixed",
     cmd_dlq},
    {"webhook-secret", "create (or --rotate) a workflow's webhook signing secret; printed once",
     cmd_webhook_secret},
    {"tail", "print a topic's messages as JSON lines (from the beginning or live)", cmd_tail},
    {"suppress", "the opt-out list: add, remove, list or import numbers never to message",
     cmd_suppress},
};

#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: msgfleet <command> [options]\n"
                 "       msgfleet <command> --help\n\n"
                 "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\nexit codes: 0 ok, 1 error, 2 usage\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return MSGFLEET_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return MSGFLEET_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            return COMMANDS[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "msgfleet: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return MSGFLEET_EXIT_USAGE;
}

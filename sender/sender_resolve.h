/* sender_resolve: jobs in doubt settled by reading their provider group (sent when still
 * pending, deleted when a run it carries was cancelled). */
#ifndef SENDER_RESOLVE_H
#define SENDER_RESOLVE_H

#include "sender_sendlist.h"

/*
 * Resolves the slots of the send list that wait for their group to be read (blocking list-API
 * calls, one group at a time; only while nothing is in flight): a slot without a recorded
 * group is resent; otherwise the group is read (and sent when still PENDING, or deleted when
 * a run it carries was cancelled) and each waiting slot becomes final, or is resent when the
 * group does not hold it. Returns 1 when it looked at a slot, else 0.
 */
int sender_resolve_pending(sender_sendlist *st);

#endif

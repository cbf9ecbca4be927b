/* sim_http: libmicrohttpd server of the simulator (127.0.0.1 only, thread per connection). */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sim.h"

struct MHD_Daemon;

/* Start listening on 127.0.0.1:port (0 = any free port, reported in *bound_port). Stop with
 * MHD_stop_daemon. Returns NULL and fills err on failure. */
struct MHD_Daemon *sim_http_start(sim_ctx *ctx, int port, int *bound_port, mf_err *err);

#endif

/* sim_capture: append every /messages/v4 request (method, path, parsed body) as a JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim.h"

/* Open (or switch to) the file the knob names. Under capture_lock. */
static FILE *capture_file(sim_ctx *ctx, const char *path)
{
    if (ctx->capture != NULL && strcmp(ctx->capture_path, path) == 0)
        return ctx->capture;
    sim_capture_close(ctx);
    ctx->capture = fopen(path, "a");
    if (ctx->capture == NULL) {
        MF_LOG(ctx->log, MF_LOG_WARN, "could not open the capture file", MF_KV_S("path", path));
        return NULL;
    }
    snprintf(ctx->capture_path, sizeof(ctx->capture_path), "%s", path);
    return ctx->capture;
}

void sim_capture_close(sim_ctx *ctx)
{
    if (ctx->capture != NULL)
        fclose(ctx->capture);
    ctx->capture = NULL;
    ctx->capture_path[0] = '\0';
}

void sim_capture(sim_ctx *ctx, const sim_knobs *k, const char *method, const char *path,
                 const char *body, size_t len)
{
    json_error_t jerr;
    json_t *parsed = NULL;
    char *text = NULL;
    mf_buf line;
    FILE *f;

    if (k->capture_file[0] == '\0') {
        pthread_mutex_lock(&ctx->capture_lock);
        if (ctx->capture != NULL)
            sim_capture_close(ctx);
        pthread_mutex_unlock(&ctx->capture_lock);
        return;
    }
    mf_buf_init(&line, 0);
    if (len > 0)
        parsed = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (parsed != NULL)
        text = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
    /* out of memory: no line rather than a line that misstates the body */
    if ((parsed != NULL && text == NULL) || mf_buf_append_str(&line, "{\"method\":", NULL) != 0 ||
        mf_buf_append_json_cstr(&line, method, NULL) != 0 ||
        mf_buf_append_str(&line, ",\"path\":", NULL) != 0 ||
        mf_buf_append_json_cstr(&line, path, NULL) != 0 ||
        mf_buf_append_str(&line, ",\"body\":", NULL) != 0 ||
        mf_buf_append_str(&line, text ? text : "null", NULL) != 0 ||
        mf_buf_append_str(&line, "}\n", NULL) != 0) {
        MF_LOG(ctx->log, MF_LOG_WARN, "could not capture a request: out of memory",
               MF_KV_S("path", path));
        goto out;
    }
    pthread_mutex_lock(&ctx->capture_lock);
    f = capture_file(ctx, k->capture_file);
    if (f != NULL) {
        fwrite(line.data, 1, line.len, f);
        fflush(f);
    }
    pthread_mutex_unlock(&ctx->capture_lock);
out:
    free(text);
    json_decref(parsed);
    mf_buf_free(&line);
}

/* page: one page of target rows copied out of the MySQL read. */
/* So the read is closed before anything slow (variable queries, Kafka back-pressure)
 * happens. */
#include "page.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE_ARENA_MAX ((size_t)1024 * 1024 * 1024)

void planner_page_init(planner_page *pg)
{
    memset(pg, 0, sizeof(*pg));
    mf_buf_init(&pg->arena, PAGE_ARENA_MAX);
    pg->bad_col = -1;
}

void planner_page_limits(planner_page *pg, size_t cell_max, size_t byte_max)
{
    pg->cell_max = cell_max;
    pg->byte_max = byte_max;
}

void planner_page_reset(planner_page *pg)
{
    mf_buf_reset(&pg->arena);
    pg->nrows = 0;
}

static void free_names(planner_page *pg)
{
    for (unsigned i = 0; pg->names != NULL && i < pg->ncols; i++)
        free(pg->names[i]);
    free(pg->names);
    pg->names = NULL;
    pg->ncols = 0;
}

void planner_page_free(planner_page *pg)
{
    free_names(pg);
    mf_buf_free(&pg->arena);
    free(pg->cells);
    memset(pg, 0, sizeof(*pg));
}

static int set_names(planner_page *pg, const mf_mysql_row *row, mf_err *err)
{
    pg->names = calloc(row->ncols ? row->ncols : 1, sizeof(char *));
    if (pg->names == NULL)
        return mf_err_set(err, "out of memory");
    pg->ncols = row->ncols;
    for (unsigned i = 0; i < row->ncols; i++) {
        size_t n = strlen(row->names[i]) + 1;
        pg->names[i] = malloc(n);
        if (pg->names[i] == NULL)
            return mf_err_set(err, "out of memory");
        memcpy(pg->names[i], row->names[i], n);
    }
    return 0;
}

static int grow_rows(planner_page *pg, mf_err *err)
{
    size_t cap = pg->cap_rows ? pg->cap_rows * 2 : 1024;
    size_t *cells;

    if (cap > SIZE_MAX / sizeof(size_t) / (pg->ncols ? pg->ncols : 1))
        return mf_err_set(err, "page too large");
    cells = realloc(pg->cells, cap * (pg->ncols ? pg->ncols : 1) * sizeof(size_t));
    if (cells == NULL)
        return mf_err_set(err, "out of memory");
    pg->cells = cells;
    pg->cap_rows = cap;
    return 0;
}

/* The row's arena bytes; -1 with err and pg->bad_col when a cell is over cell_max. */
static int row_bytes(planner_page *pg, const mf_mysql_row *row, size_t *bytes, mf_err *err)
{
    size_t n = 0;

    for (unsigned i = 0; i < row->ncols; i++) {
        if (row->values[i] == NULL)
            continue;
        if (pg->cell_max > 0 && row->lengths[i] > pg->cell_max) {
            pg->bad_col = (int)i;
            return mf_err_set(err, "column \"%.64s\" is %lu bytes, over the %zu-byte cell limit",
                              row->names[i], row->lengths[i], pg->cell_max);
        }
        n += (size_t)row->lengths[i] + 1;
    }
    *bytes = n;
    return 0;
}

int planner_page_add(planner_page *pg, const mf_mysql_row *row, mf_err *err)
{
    size_t *out, bytes = 0;

    pg->bad_col = -1;
    if (pg->names == NULL && set_names(pg, row, err) != 0)
        return -1;
    if (row->ncols != pg->ncols)
        return mf_err_set(err, "row has %u columns, expected %u", row->ncols, pg->ncols);
    if (row_bytes(pg, row, &bytes, err) != 0)
        return -1;
    if (pg->nrows > 0 && pg->byte_max > 0 && pg->arena.len + bytes > pg->byte_max)
        return 1;
    if (pg->nrows == pg->cap_rows && grow_rows(pg, err) != 0)
        return -1;
    out = pg->cells + pg->nrows * pg->ncols;
    for (unsigned i = 0; i < row->ncols; i++) {
        if (row->values[i] == NULL) {
            out[i] = 0;
            continue;
        }
        out[i] = pg->arena.len + 1;
        if (mf_buf_append(&pg->arena, row->values[i], row->lengths[i], err) != 0 ||
            mf_buf_append_char(&pg->arena, '\0', err) != 0)
            return -1;
    }
    pg->nrows++;
    return 0;
}

int planner_page_col(const planner_page *pg, const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned i = 0; i < pg->ncols; i++) {
        if (strcmp(pg->names[i], name) == 0)
            return (int)i;
    }
    for (unsigned i = 0; i < pg->ncols; i++) {
        if (strcasecmp(pg->names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

const char *planner_page_get(const planner_page *pg, size_t row, int col)
{
    size_t cell;

    if (col < 0 || (unsigned)col >= pg->ncols || row >= pg->nrows)
        return NULL;
    cell = pg->cells[row * pg->ncols + (unsigned)col];
    return cell == 0 ? NULL : pg->arena.data + cell - 1;
}

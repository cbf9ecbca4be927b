/* page: one page of target rows copied out of the MySQL read. */
/* So the read is closed before anything slow (variable queries, Kafka back-pressure)
 * happens. */
#ifndef PLANNER_PAGE_H
#define PLANNER_PAGE_H

#include <stddef.h>

#include "mf_buf.h"
#include "mf_err.h"
#include "mf_mysql.h"

/* Rows of one page: all cells in one arena (no allocation per row once warmed up). */
typedef struct planner_page {
    unsigned ncols;
    char **names;  /* column names of the first row added (owned) */
    mf_buf arena;  /* cell bytes, each followed by a NUL */
    size_t *cells; /* nrows * ncols: offset + 1 into arena, 0 = SQL NULL */
    size_t nrows, cap_rows;
    size_t cell_max; /* most bytes of one cell (0: no limit) */
    size_t byte_max; /* most arena bytes of a page (0: no limit but the arena's) */
    int bad_col;     /* after planner_page_add failed on a cell over cell_max: its column,
                         * else -1 */
} planner_page;

void planner_page_init(planner_page *pg);

/* Bound each cell to cell_max bytes and the page to byte_max bytes (0: unbounded). */
void planner_page_limits(planner_page *pg, size_t cell_max, size_t byte_max);

/* Forget the rows, keep memory and column names. */
void planner_page_reset(planner_page *pg);

void planner_page_free(planner_page *pg);

/* Copy one row (an mf_mysql_row_cb can call this). The first row fixes the column names;
 * later rows must have the same count. Returns 0 when added; 1 when the page already holds
 * rows and this one would take it past byte_max (not added: the page is full, the row
 * belongs to the next page); -1 with err on a cell longer than cell_max (pg->bad_col names
 * its column: `column "note" is 1048576 bytes, over the 65536-byte cell limit`), a row of
 * another width or no memory (bad_col -1). */
int planner_page_add(planner_page *pg, const mf_mysql_row *row, mf_err *err);

/* Index of a column by name (exact, then case-insensitive), or -1. */
int planner_page_col(const planner_page *pg, const char *name);

/* Cell text (NUL-terminated) or NULL for SQL NULL, a column of -1 or a row out of range.
 * Valid until the next add/reset. */
const char *planner_page_get(const planner_page *pg, size_t row, int col);

#endif

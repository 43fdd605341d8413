#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

/* glibc's allocator starts by giving a freed block of 128 KiB or more back to the system, and
   by trimming the heap's free top past 128 KiB; it raises both as big blocks come and go, up to
   32 MiB and 64 MiB. A short command (a run, an ingest) is over before it gets there, and every
   buffer it grows (a cache's table, the messages a transaction holds) is faulted in page by page
   again. Set where glibc would settle, from the start: 2% of the 100k-event benchmark's run and
   ingest. (mallopt is declared in malloc.h, which Swift's Glibc module does not include.) */
static inline void journey_malloc_settle(void) {
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

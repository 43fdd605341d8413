/* libpq's types and constants only: the library itself is opened at run time (LibPQ.swift). */
#include <postgresql/libpq-fe.h>

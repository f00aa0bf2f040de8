/* testutil.h — what every cmocka test file includes first. */
#ifndef EG_TESTUTIL_H
#define EG_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif

#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level g_level = LOG_INFO;

void log_set_level(enum log_level lvl) { g_level = lvl; }
enum log_level log_get_level(void) { return g_level; }

static const char *level_name(enum log_level l)
{
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    return l <= LOG_TRACE ? names[l] : "?";
}

void log_msg(enum log_level lvl, const char *file, int line, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char thread[16] = "";
    char msg[1024];
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    pthread_getname_np(pthread_self(), thread, sizeof(thread));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    fprintf(stderr, "[%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %-5s %s %s:%d] %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
            level_name(lvl), thread, base ? base + 1 : file, line, msg);
}

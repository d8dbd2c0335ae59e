/* Generic protobuf-c message -> JSON conversion driven by the message descriptors, so
 * every subcommand gets `-o json` for free and new replies need no hand-written code.
 *
 * Mapping (close to the proto3 JSON mapping, but aimed at operators):
 *  - keys are the field names exactly as written in the .proto file;
 *  - every field is present, defaults included; an unset sub-message is null; a oneof
 *    member (including proto3 `optional`-style `oneof _x`) is present only when set;
 *  - enums are their value names ("V1", "RUNNING"), unknown values stay numbers;
 *  - 64-bit integers are JSON numbers, except uint64 values above INT64_MAX, which are
 *    strings to stay exact;
 *  - bytes are base64; google.protobuf wrappers (StringValue, ...) are unwrapped to their
 *    value, Timestamp is an RFC 3339 string, Duration a "1.5s" string, Empty is {}. */
#pragma once
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Returns a new reference, or NULL on allocation failure. m may be NULL (-> null). */
json_t *pbjson_message(const ProtobufCMessage *m);

/* Table helper: the value of scalar/enum/string field `f` of `m` as text ("true", "42",
 * "RUNNING"); "-" for an unset oneof member, a sub-message or a repeated field. */
void pb_field_str(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *buf,
                  size_t len);

/* Table helper: "name=value, name=value" over the scalar fields of m that are set
 * (e.g. the feature flags of MayastorFeatures). Returns malloc'd text; "-" for NULL m. */
char *pb_summary(const ProtobufCMessage *m);

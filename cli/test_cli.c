/* Unit tests for the daemon-independent parts of io-engine-client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "host.pb-c.h"
#include "output.h"
#include "pbjson.h"

static int failures;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static void endpoint_ok(const char *in, const char *want)
{
    char out[128], err[128];
    int rc = cli_endpoint_normalize(in, 10124, out, sizeof(out), err, sizeof(err));
    if (rc || strcmp(out, want)) {
        fprintf(stderr, "endpoint '%s': got rc %d '%s' (%s), want '%s'\n", in, rc,
                rc ? "" : out, rc ? err : "", want);
        failures++;
    }
}

static void endpoint_bad(const char *in)
{
    char out[128], err[128];
    if (!cli_endpoint_normalize(in, 10124, out, sizeof(out), err, sizeof(err))) {
        fprintf(stderr, "endpoint '%s': accepted as '%s', want an error\n", in, out);
        failures++;
    }
}

static void test_endpoint(void)
{
    endpoint_ok("127.0.0.1:10124", "127.0.0.1:10124");
    endpoint_ok("127.0.0.1", "127.0.0.1:10124");
    endpoint_ok("localhost:1", "localhost:1");
    endpoint_ok("node-1.example.com", "node-1.example.com:10124");
    endpoint_ok("[::1]:11124", "[::1]:11124");
    endpoint_ok("[::1]", "[::1]:10124");
    endpoint_ok("::1", "[::1]:10124");
    endpoint_ok("fe80::1:2", "[fe80::1:2]:10124");
    endpoint_ok("http://10.0.0.1:5000", "10.0.0.1:5000");
    endpoint_ok("http://10.0.0.1:5000/", "10.0.0.1:5000");
    endpoint_ok("http://host", "host:10124");
    endpoint_ok("http://[::1]:7", "[::1]:7");
    endpoint_ok("unix:/tmp/io.sock", "unix:/tmp/io.sock");
    endpoint_bad("");
    endpoint_bad("http://");
    endpoint_bad("host:");
    endpoint_bad("host:0");
    endpoint_bad("host:65536");
    endpoint_bad("host:12a");
    endpoint_bad(":10124");
    endpoint_bad("[::1");
    endpoint_bad("[::1]x");
    endpoint_bad("[::1]:");
    endpoint_bad("[]:10");
    endpoint_bad("https://host:1");
    endpoint_bad("grpc://host:1");
    endpoint_bad("a b:1");
}

static void test_human_size(void)
{
    char b[32];
    human_size(0, b, sizeof(b));
    CHECK(!strcmp(b, "0 B"));
    human_size(1023, b, sizeof(b));
    CHECK(!strcmp(b, "1023 B"));
    human_size(1024, b, sizeof(b));
    CHECK(!strcmp(b, "1.0 KiB"));
    human_size(1536, b, sizeof(b));
    CHECK(!strcmp(b, "1.5 KiB"));
    human_size(1024 * 1024 - 1, b, sizeof(b));
    CHECK(!strcmp(b, "1.0 MiB"));
    human_size(500107862016ull, b, sizeof(b)); /* a "500 GB" disk */
    CHECK(!strcmp(b, "465.8 GiB"));
    human_size(UINT64_MAX, b, sizeof(b));
    CHECK(!strcmp(b, "16.0 EiB"));
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static void test_pbjson_info(void)
{
    Google__Protobuf__StringValue uuid = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    uuid.value = "u-1";
    Mayastor__V1__MayastorFeatures feat = MAYASTOR__V1__MAYASTOR_FEATURES__INIT;
    feat.asymmetricnamespaceaccess = 1;
    feat._logical_volume_manager_case =
        MAYASTOR__V1__MAYASTOR_FEATURES___LOGICAL_VOLUME_MANAGER_LOGICAL_VOLUME_MANAGER;
    feat.logicalvolumemanager = 0;
    Mayastor__V1__APIVersion apis[] = {MAYASTOR__V1__APIVERSION__V0, MAYASTOR__V1__APIVERSION__V1,
                                       (Mayastor__V1__APIVersion)7};
    Mayastor__V1__RegisterRequest reg = MAYASTOR__V1__REGISTER_REQUEST__INIT;
    reg.id = "node-a";
    reg.grpc_endpoint = "1.2.3.4:10124";
    reg.instance_uuid = &uuid;
    reg.n_api_version = 3;
    reg.api_version = apis;
    reg._features_case = MAYASTOR__V1__REGISTER_REQUEST___FEATURES_FEATURES;
    reg.features = &feat;
    Mayastor__V1__MayastorInfoResponse info = MAYASTOR__V1__MAYASTOR_INFO_RESPONSE__INIT;
    info.version = "v9";
    info.registration_info = &reg;

    char *s = dump(pbjson_message(&info.base));
    const char *want =
        "{\"version\":\"v9\",\"previous_features\":null,\"registration_info\":{\"id\":\"node-a\","
        "\"grpc_endpoint\":\"1.2.3.4:10124\",\"instance_uuid\":\"u-1\",\"api_version\":[\"V0\","
        "\"V1\",7],\"hostnqn\":null,\"features\":{\"asymmetricNamespaceAccess\":true,"
        "\"logicalVolumeManager\":false}}}";
    if (!s || strcmp(s, want)) {
        fprintf(stderr, "info JSON:\n got %s\nwant %s\n", s ? s : "(null)", want);
        failures++;
    }
    free(s);

    s = pb_summary(&feat.base);
    CHECK(s && !strcmp(s, "asymmetricNamespaceAccess=true, logicalVolumeManager=false"));
    free(s);
    s = pb_summary(NULL);
    CHECK(s && !strcmp(s, "-"));
    free(s);
}

static void test_pbjson_scalars(void)
{
    char *mounts[] = {"/a", "/b"};
    Mayastor__V1__BlockDevice__Filesystem fs = MAYASTOR__V1__BLOCK_DEVICE__FILESYSTEM__INIT;
    fs.fstype = "ext4";
    fs.n_mountpoints = 2;
    fs.mountpoints = mounts;
    Mayastor__V1__BlockDevice d = MAYASTOR__V1__BLOCK_DEVICE__INIT;
    d.devname = "sda";
    d.size = UINT64_MAX; /* beyond json_int_t: must stay exact, as a string */
    d.filesystem = &fs;
    d.model = "caf\xe9"; /* invalid UTF-8 must not fail the conversion */
    json_t *j = pbjson_message(&d.base);
    CHECK(j);
    CHECK(!strcmp(json_string_value(json_object_get(j, "size")), "18446744073709551615"));
    CHECK(!strcmp(json_string_value(json_object_get(j, "model")), "caf?"));
    CHECK(json_is_null(json_object_get(j, "partition")));
    CHECK(json_object_get(j, "is_rotational") == NULL); /* unset oneof: absent */
    CHECK(json_array_size(json_object_get(json_object_get(j, "filesystem"), "mountpoints")) == 2);
    CHECK(json_array_size(json_object_get(j, "devlinks")) == 0);
    json_decref(j);

    d.size = 42;
    d._is_rotational_case = MAYASTOR__V1__BLOCK_DEVICE___IS_ROTATIONAL_IS_ROTATIONAL;
    d.is_rotational = 1;
    j = pbjson_message(&d.base);
    CHECK(json_integer_value(json_object_get(j, "size")) == 42);
    CHECK(json_is_true(json_object_get(j, "is_rotational")));
    json_decref(j);

    Mayastor__V1__NvmeController c = MAYASTOR__V1__NVME_CONTROLLER__INIT;
    c.state = MAYASTOR__V1__NVME_CONTROLLER_STATE__RUNNING;
    char buf[32];
    pb_field_str(&c.base, protobuf_c_message_descriptor_get_field_by_name(c.base.descriptor, "state"),
                 buf, sizeof(buf));
    CHECK(!strcmp(buf, "RUNNING"));

    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1700000000;
    ts.nanos = 5000000;
    char *s = dump(pbjson_message(&ts.base));
    CHECK(s && !strcmp(s, "\"2023-11-14T22:13:20.005Z\""));
    free(s);
    Google__Protobuf__Duration du = GOOGLE__PROTOBUF__DURATION__INIT;
    du.seconds = 1;
    du.nanos = 500000000;
    s = dump(pbjson_message(&du.base));
    CHECK(s && !strcmp(s, "\"1.500s\""));
    free(s);
}

static void test_table(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    struct table *t = table_new((const char *[]){"NAME", ">SIZE", "NOTE", NULL});
    table_set_empty(t, "Nothing here");
    table_print(t, f);
    table_row(t);
    table_cell_str(t, "a");
    table_cell(t, "%d", 12345);
    table_cell_str(t, "");
    table_row(t);
    table_cell_str(t, "longer-name");
    table_cell(t, "%d", 7);
    table_cell_str(t, "x");
    table_print(t, f);
    table_free(t);
    fclose(f);
    const char *want = "Nothing here\n"
                       "NAME          SIZE  NOTE\n"
                       "a            12345  -\n"
                       "longer-name      7  x\n";
    if (strcmp(out, want)) {
        fprintf(stderr, "table:\n got:\n%s\nwant:\n%s\n", out, want);
        failures++;
    }
    free(out);
}

int main(void)
{
    test_endpoint();
    test_human_size();
    test_pbjson_info();
    test_pbjson_scalars();
    test_table();
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("all cli unit tests passed\n");
    return failures ? 1 : 0;
}

#!/usr/bin/env python3
"""Structural comparison of two trees of .proto files.

Usage: python3 tools/compare_protos.py REFDIR OURDIR [--protoc PROTOC]
                                       [--wkt-include DIR]

Every directory holding .proto files is compiled on its own with
    protoc -I <dir> -I <wkt-include> --include_imports --descriptor_set_out
so that files inside a directory import each other by bare file name.
Files are then paired by (package, file name) and compared on everything
that affects the wire format or generated client code:

  * package, syntax and the set of imports
  * services: methods, input/output types, client/server streaming
  * messages (recursively): fields (name, number, type, type_name, label,
    json_name, default, options), oneof membership, reserved ranges/names,
    message options (e.g. map_entry)
  * enums: value names and numbers, options

A proto3 ``optional`` field (synthetic oneof) is treated as equal to a field
that is the only member of a real oneof named ``_<field>``; this is how the
project spells optional fields because protoc-c 1.4 rejects ``optional``.

Prints every difference; exits 0 when the trees match, 1 on differences and
2 when protoc fails.
"""

import argparse
import os
import subprocess
import sys
import tempfile

try:
    from google.protobuf import descriptor_pb2
except ImportError:
    # A python3 earlier on PATH (e.g. pyenv) may lack the protobuf module;
    # fall back to the distribution interpreter, which has python3-protobuf.
    _SYS_PY = "/usr/bin/python3"
    if os.path.exists(_SYS_PY) and os.path.realpath(sys.executable) != os.path.realpath(_SYS_PY):
        os.execv(_SYS_PY, [_SYS_PY] + sys.argv)
    raise

FDP = descriptor_pb2.FieldDescriptorProto


def _type_name(num):
    return FDP.Type.Name(num) if num else "-"


def _label_name(num):
    return FDP.Label.Name(num) if num else "-"


def proto_groups(root):
    """Map directory -> sorted list of .proto file names inside it."""
    groups = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        protos = sorted(f for f in filenames if f.endswith(".proto"))
        if protos:
            groups[dirpath] = protos
    return groups


def compile_group(protoc, directory, files, wkt_include):
    """Return the FileDescriptorProtos of `files` (compiled in `directory`)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        cmd = [protoc, "-I", directory]
        if wkt_include:
            cmd += ["-I", wkt_include]
        cmd += ["--include_imports", "--descriptor_set_out=" + out]
        cmd += [os.path.join(directory, f) for f in files]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.stderr.write("protoc failed: %s\n%s" % (" ".join(cmd), res.stderr))
            sys.exit(2)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as fh:
            fds.ParseFromString(fh.read())
    wanted = set(files)
    return [fd for fd in fds.file if fd.name in wanted]


def load_tree(protoc, root, wkt_include):
    """Return {(package, file name): (FileDescriptorProto, path)}."""
    result = {}
    for directory, files in sorted(proto_groups(root).items()):
        for fd in compile_group(protoc, directory, files, wkt_include):
            if fd.package == "google.protobuf":
                continue  # well-known types are not part of the comparison
            key = (fd.package, fd.name)
            path = os.path.join(directory, fd.name)
            if key in result:
                sys.stderr.write("warning: %s duplicates %s (package %s)\n"
                                 % (path, result[key][1], fd.package))
                continue
            result[key] = (fd, path)
    return result


class Comparer:
    def __init__(self):
        self.diffs = []
        self.notes = []

    def diff(self, where, text):
        self.diffs.append("%s: %s" % (where, text))

    def note(self, where, text):
        self.notes.append("%s: %s" % (where, text))

    # ---- helpers -------------------------------------------------------

    def compare_keys(self, where, what, ref, our):
        """Report keys missing on either side; return the common keys."""
        for k in sorted(set(ref) - set(our)):
            self.diff(where, "%s %r missing in ours" % (what, k))
        for k in sorted(set(our) - set(ref)):
            self.diff(where, "%s %r not in reference" % (what, k))
        return [k for k in ref if k in our]

    def compare_value(self, where, what, ref, our):
        if ref != our:
            self.diff(where, "%s differs: reference=%r ours=%r" % (what, ref, our))

    # ---- files ---------------------------------------------------------

    def compare_file(self, where, ref, our):
        self.compare_value(where, "syntax", ref.syntax or "proto2",
                           our.syntax or "proto2")
        self.compare_value(where, "imports", sorted(ref.dependency),
                           sorted(our.dependency))
        self.compare_value(where, "public imports",
                           sorted(ref.dependency[i] for i in ref.public_dependency),
                           sorted(our.dependency[i] for i in our.public_dependency))
        self.compare_messages(where, ref.message_type, our.message_type)
        self.compare_enums(where, ref.enum_type, our.enum_type)
        self.compare_services(where, ref.service, our.service)
        self.compare_value(where, "extensions",
                           sorted(e.SerializeToString() for e in ref.extension),
                           sorted(e.SerializeToString() for e in our.extension))

    # ---- services ------------------------------------------------------

    def compare_services(self, where, ref_list, our_list):
        ref = {s.name: s for s in ref_list}
        our = {s.name: s for s in our_list}
        for name in self.compare_keys(where, "service", ref, our):
            self.compare_service("%s service %s" % (where, name), ref[name], our[name])

    def compare_service(self, where, ref, our):
        self.compare_value(where, "options", ref.options.SerializeToString(),
                           our.options.SerializeToString())
        rm = {m.name: m for m in ref.method}
        om = {m.name: m for m in our.method}
        common = self.compare_keys(where, "method", rm, om)
        for name in common:
            a, b = rm[name], om[name]
            w = "%s.%s" % (where, name)
            self.compare_value(w, "input type", a.input_type, b.input_type)
            self.compare_value(w, "output type", a.output_type, b.output_type)
            self.compare_value(w, "client streaming", a.client_streaming,
                               b.client_streaming)
            self.compare_value(w, "server streaming", a.server_streaming,
                               b.server_streaming)
            self.compare_value(w, "options", a.options.SerializeToString(),
                               b.options.SerializeToString())
        ref_order = [m.name for m in ref.method if m.name in om]
        our_order = [m.name for m in our.method if m.name in rm]
        if ref_order != our_order:
            self.note(where, "method order differs (not a wire difference)")

    # ---- enums ---------------------------------------------------------

    def compare_enums(self, where, ref_list, our_list):
        ref = {e.name: e for e in ref_list}
        our = {e.name: e for e in our_list}
        for name in self.compare_keys(where, "enum", ref, our):
            self.compare_enum("%s enum %s" % (where, name), ref[name], our[name])

    def compare_enum(self, where, ref, our):
        rv = {v.name: v.number for v in ref.value}
        ov = {v.name: v.number for v in our.value}
        for name in self.compare_keys(where, "value", rv, ov):
            self.compare_value("%s.%s" % (where, name), "number", rv[name], ov[name])
        self.compare_value(where, "options", ref.options.SerializeToString(),
                           our.options.SerializeToString())
        self.compare_value(where, "reserved names", sorted(ref.reserved_name),
                           sorted(our.reserved_name))
        self.compare_value(where, "reserved ranges",
                           sorted((r.start, r.end) for r in ref.reserved_range),
                           sorted((r.start, r.end) for r in our.reserved_range))

    # ---- messages ------------------------------------------------------

    def compare_messages(self, where, ref_list, our_list):
        ref = {m.name: m for m in ref_list}
        our = {m.name: m for m in our_list}
        for name in self.compare_keys(where, "message", ref, our):
            self.compare_message("%s message %s" % (where, name), ref[name], our[name])

    @staticmethod
    def oneof_layout(msg):
        """Normalised oneof structure of a message.

        Returns {field name: oneof key} and {oneof key: sorted member names}
        where an optional-style oneof (synthetic, or a single-member oneof
        called _<field>) is keyed as ("optional", field) and any other oneof
        as ("oneof", name).
        """
        members = {}
        for f in msg.field:
            if f.HasField("oneof_index"):
                members.setdefault(f.oneof_index, []).append(f)
        field_key = {}
        layout = {}
        for idx, decl in enumerate(msg.oneof_decl):
            fields = members.get(idx, [])
            if len(fields) == 1 and (fields[0].proto3_optional
                                     or decl.name == "_" + fields[0].name):
                key = ("optional", fields[0].name)
            else:
                key = ("oneof", decl.name)
            layout[key] = sorted(f.name for f in fields)
            for f in fields:
                field_key[f.name] = key
        return field_key, layout

    def compare_message(self, where, ref, our):
        rf = {f.name: f for f in ref.field}
        of = {f.name: f for f in our.field}
        r_key, r_layout = self.oneof_layout(ref)
        o_key, o_layout = self.oneof_layout(our)
        for name in self.compare_keys(where, "field", rf, of):
            a, b = rf[name], of[name]
            w = "%s.%s" % (where, name)
            self.compare_value(w, "number", a.number, b.number)
            self.compare_value(w, "type", _type_name(a.type), _type_name(b.type))
            self.compare_value(w, "type_name", a.type_name, b.type_name)
            self.compare_value(w, "label", _label_name(a.label), _label_name(b.label))
            self.compare_value(w, "json_name", a.json_name, b.json_name)
            self.compare_value(w, "default", a.default_value, b.default_value)
            self.compare_value(w, "extendee", a.extendee, b.extendee)
            self.compare_value(w, "options", a.options.SerializeToString(),
                               b.options.SerializeToString())
            self.compare_value(w, "oneof", r_key.get(name), o_key.get(name))
        for key in self.compare_keys(where, "oneof", r_layout, o_layout):
            self.compare_value("%s %s %s" % (where, key[0], key[1]), "members",
                               r_layout[key], o_layout[key])
        self.compare_value(where, "options", ref.options.SerializeToString(),
                           our.options.SerializeToString())
        self.compare_value(where, "reserved names", sorted(ref.reserved_name),
                           sorted(our.reserved_name))
        self.compare_value(where, "reserved ranges",
                           sorted((r.start, r.end) for r in ref.reserved_range),
                           sorted((r.start, r.end) for r in our.reserved_range))
        self.compare_value(where, "extension ranges",
                           sorted((r.start, r.end) for r in ref.extension_range),
                           sorted((r.start, r.end) for r in our.extension_range))
        self.compare_messages(where, ref.nested_type, our.nested_type)
        self.compare_enums(where, ref.enum_type, our.enum_type)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("refdir")
    ap.add_argument("ourdir")
    ap.add_argument("--protoc", default="protoc")
    ap.add_argument("--wkt-include", default="/usr/include",
                    help="directory holding google/protobuf/*.proto")
    args = ap.parse_args()

    ref = load_tree(args.protoc, args.refdir, args.wkt_include)
    our = load_tree(args.protoc, args.ourdir, args.wkt_include)

    cmp = Comparer()
    for key in cmp.compare_keys("tree", "file (package, name)", ref, our):
        where = "%s [%s]" % (key[1], key[0])
        cmp.compare_file(where, ref[key][0], our[key][0])

    for line in cmp.notes:
        print("note: " + line)
    for line in cmp.diffs:
        print("DIFF: " + line)
    print("compared %d reference files with %d of ours: %d difference(s)"
          % (len(ref), len(our), len(cmp.diffs)))
    return 1 if cmp.diffs else 0


if __name__ == "__main__":
    sys.exit(main())

"""The gRPC API the daemon must serve (spec/api.md): wire names, module-style aliases,
and which methods are built so far. Later issues move methods into BUILT."""

SERVICES = {
    "mayastor.v1.PoolRpc": ("v1.pool.PoolRpc", "V1", [
        "CreatePool", "DestroyPool", "ExportPool", "ImportPool", "ListPools", "GrowPool"]),
    "mayastor.v1.ReplicaRpc": ("v1.replica.ReplicaRpc", "V1", [
        "CreateReplica", "DestroyReplica", "ListReplicas", "ShareReplica", "UnshareReplica",
        "ResizeReplica", "SetReplicaEntityId"]),
    "mayastor.v1.NexusRpc": ("v1.nexus.NexusRpc", "V1", [
        "CreateNexus", "DestroyNexus", "ResizeNexus", "ListNexus", "AddChildNexus",
        "RemoveChildNexus", "FaultNexusChild", "ShutdownNexus", "PublishNexus", "UnpublishNexus",
        "GetNvmeAnaState", "SetNvmeAnaState", "ChildOperation", "StartRebuild", "StopRebuild",
        "PauseRebuild", "ResumeRebuild", "GetRebuildState", "GetRebuildStats",
        "GetRebuildHistory", "ListRebuildHistory"]),
    "mayastor.v1.HostRpc": ("v1.host.HostRpc", "V1", [
        "GetMayastorInfo", "ListBlockDevices", "GetMayastorResourceUsage", "ListNvmeControllers",
        "StatNvmeController"]),
    "mayastor.v1.JsonRpc": ("v1.json.JsonRpc", "V1", ["JsonRpcCall"]),
    "mayastor.v1.BdevRpc": ("v1.bdev.BdevRpc", "V1", ["Create", "Destroy", "List", "Share", "Unshare"]),
    "mayastor.v1.SnapshotRpc": ("v1.snapshot.SnapshotRpc", "V1", [
        "CreateReplicaSnapshot", "CreateNexusSnapshot", "ListSnapshot", "DestroySnapshot",
        "CreateSnapshotClone", "ListSnapshotClone"]),
    "mayastor.v1.SnapshotRebuildRpc": ("v1.snapshot_rebuild.SnapshotRebuildRpc", "V1", [
        "CreateSnapshotRebuild", "ListSnapshotRebuild", "DestroySnapshotRebuild"]),
    "mayastor.v1.StatsRpc": ("v1.stats.StatsRpc", "V1", [
        "GetPoolIoStats", "GetNexusIoStats", "GetReplicaIoStats", "ResetIoStats"]),
    "mayastor.v1.TestRpc": ("v1.test.TestRpc", "V1", [
        "GetFeatures", "WipeReplica", "AddFaultInjection", "RemoveFaultInjection",
        "ListFaultInjections"]),
    "mayastor.Mayastor": ("v0.mayastor.Mayastor", "V0", [
        "CreatePool", "DestroyPool", "ListPools", "CreateReplica", "CreateReplicaV2",
        "DestroyReplica", "ListReplicas", "ListReplicasV2", "StatReplicas", "ShareReplica",
        "CreateNexus", "CreateNexusV2", "DestroyNexus", "ListNexus", "ListNexusV2",
        "AddChildNexus", "RemoveChildNexus", "FaultNexusChild", "ShutdownNexus", "PublishNexus",
        "UnpublishNexus", "GetNvmeAnaState", "SetNvmeAnaState", "GetMayastorInfo",
        "ChildOperation", "StartRebuild", "StopRebuild", "PauseRebuild", "ResumeRebuild",
        "GetRebuildState", "GetRebuildStats", "GetRebuildProgress", "CreateSnapshot",
        "ListBlockDevices", "GetResourceUsage", "ListNvmeControllers", "StatNvmeControllers"]),
    "mayastor.BdevRpc": ("v0.bdev_rpc.BdevRpc", "V0", ["List", "Create", "Destroy", "Share", "Unshare"]),
    "mayastor.JsonRpc": ("v0.json_rpc.JsonRpc", "V0", ["JsonRpcCall"]),
}

# Methods with a real implementation. With an empty request each answers something
# other than UNIMPLEMENTED (a reply, or an argument error).
BUILT = {
    "mayastor.v1.HostRpc": {"GetMayastorInfo", "ListBlockDevices", "GetMayastorResourceUsage",
                            "ListNvmeControllers", "StatNvmeController"},
    "mayastor.v1.JsonRpc": {"JsonRpcCall"},
    "mayastor.v1.BdevRpc": {"Create", "Destroy", "List", "Share", "Unshare"},
    "mayastor.v1.PoolRpc": {"CreatePool", "DestroyPool", "ExportPool", "ImportPool", "ListPools",
                            "GrowPool"},
    "mayastor.v1.ReplicaRpc": {"CreateReplica", "DestroyReplica", "ListReplicas", "ResizeReplica",
                               "SetReplicaEntityId", "ShareReplica", "UnshareReplica"},
    # CreateNexusSnapshot waits for the nexus.
    "mayastor.v1.SnapshotRpc": {"CreateReplicaSnapshot", "ListSnapshot", "DestroySnapshot",
                                "CreateSnapshotClone", "ListSnapshotClone"},
    "mayastor.Mayastor": {"GetMayastorInfo", "ListBlockDevices", "GetResourceUsage",
                          "ListNvmeControllers", "StatNvmeControllers", "CreatePool",
                          "DestroyPool", "ListPools", "CreateReplica", "CreateReplicaV2",
                          "DestroyReplica", "ListReplicas", "ListReplicasV2", "StatReplicas",
                          "ShareReplica"},
    "mayastor.JsonRpc": {"JsonRpcCall"},
    "mayastor.BdevRpc": {"List", "Create", "Destroy", "Share", "Unshare"},
}

STREAMING = {("mayastor.v1.TestRpc", "WipeReplica")}


def all_methods():
    for svc, (alias, version, methods) in SERVICES.items():
        for m in methods:
            yield svc, alias, version, m

"""Convert NNI's legacy v1 YAML (``authorName``, ``trainingServicePlatform``, ...) to the v2 schema."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["is_v1_config", "convert_v1_config"]

_V1_MARKERS = {"trainingserviceplatform", "authorname", "maxexecduration", "maxtrialnum", "searchspacepath", "trial"}

_ROOT_KEYS = {
    "experimentname": "experimentName", "trialconcurrency": "trialConcurrency", "maxexecduration": "maxExperimentDuration",
    "maxtrialnum": "maxTrialNumber", "searchspacepath": "searchSpaceFile", "useannotation": "useAnnotation",
    "nnimanagerip": "nniManagerIp", "loglevel": "logLevel", "debug": "debug", "maxtrialduration": "maxTrialDuration",
    "experimentworkingdirectory": "experimentWorkingDirectory",
}
_DROPPED = {"authorname", "versioncheck", "logcollection", "multithread"}

_MACHINE_KEYS = {"ip": "host", "port": "port", "username": "user", "passwd": "password", "sshkeypath": "sshKeyFile",
                 "passphrase": "sshPassphrase", "gpuindices": "gpuIndices", "maxtrialnumpergpu": "maxTrialNumberPerGpu",
                 "useactivegpu": "useActiveGpu", "pythonpath": "pythonPath"}


# v1 spellings of built-in names that v2 renamed.
_V1_NAMES = {"batchtuner": "Batch", "metistuner": "Metis", "gptuner": "GP", "gridsearchtuner": "GridSearch",
             "randomtuner": "Random", "tpetuner": "TPE", "evolutiontuner": "Evolution"}


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def is_v1_config(data: dict[str, Any]) -> bool:
    return any(_norm(str(k)) in _V1_MARKERS for k in data)


_ALGORITHM_KEYS = {"builtintunername": "name", "builtinassessorname": "name", "builtinadvisorname": "name",
                   "classargs": "classArgs", "codedir": "codeDirectory", "classfilename": "_file",
                   "classname": "className"}
_TRIAL_KEYS = {"command": "trialCommand", "codedir": "trialCodeDirectory", "gpunum": "trialGpuNumber"}
_LOCAL_KEYS = {"useactivegpu": "useActiveGpu", "gpuindices": "gpuIndices", "maxtrialnumpergpu": "maxTrialNumberPerGpu"}


def _renamed(section: dict[str, Any] | None, table: dict[str, str], where: str, source: str,
             ignored: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``section`` with its keys in their v2 spelling (``table``: normalised v1 key to v2 key).

    A key in neither ``table`` nor ``ignored`` is refused, naming where it stands.
    """
    out: dict[str, Any] = {}
    for key, value in (section or {}).items():
        k = _norm(str(key))
        if k in ignored:
            continue
        if k not in table:
            raise ConfigError(f"{source}: {where}.{key}: unknown key in a v1 config")
        out[table[k]] = value
    return out


def _algorithm(kind: str, section: dict[str, Any], source: str) -> dict[str, Any]:
    out = _renamed(section, _ALGORITHM_KEYS, kind, source,
                   ignored=frozenset({"gpunum", "gpuindices", "includeintermediateresults"}))
    if "name" in out:
        out["name"] = _V1_NAMES.get(str(out["name"]).lower(), out["name"])
    module = out.pop("_file", None)
    if module and "className" in out:
        out["className"] = f"{str(module).removesuffix('.py')}.{out['className']}"
    return out


def convert_v1_config(data: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Return the v2 form of a v1 config; refuse what v2 cannot express, naming the key."""
    v2: dict[str, Any] = {}
    platform = None
    service: dict[str, Any] = {}
    for key, value in data.items():
        k = _norm(str(key))
        if k in _DROPPED:
            continue
        if k in _ROOT_KEYS:
            v2[_ROOT_KEYS[k]] = value
        elif k == "trainingserviceplatform":
            platform = value
        elif k == "trial":
            v2.update(_renamed(value, _TRIAL_KEYS, "trial", source))
        elif k in ("tuner", "assessor", "advisor"):
            v2[k] = _algorithm(k, value or {}, source)
        elif k == "localconfig":
            service.update(_renamed(value, _LOCAL_KEYS, "localConfig", source))
        elif k == "machinelist":
            service["machineList"] = [_renamed(machine, _MACHINE_KEYS, f"machineList[{index}]", source)
                                      for index, machine in enumerate(value or [])]
        elif k == "remoteconfig":
            service.update({"reuseMode": (value or {}).get("reuse", True)})
        elif k == "multiphase" and value:
            raise ConfigError(f"{source}: {key}: multi-phase trials were removed in NNI 2.0")
        elif k == "multiphase":
            continue
        else:
            raise ConfigError(f"{source}: {key}: unknown key in a v1 config")
    if platform is None:
        raise ConfigError(f"{source}: trainingServicePlatform: required in a v1 config")
    service["platform"] = platform
    v2["trainingService"] = service
    v2.setdefault("trialCodeDirectory", ".")
    return v2

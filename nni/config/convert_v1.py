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


def _algorithm(kind: str, section: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in section.items():
        k = _norm(key)
        if k in ("builtintunername", "builtinassessorname", "builtinadvisorname"):
            out["name"] = _V1_NAMES.get(str(value).lower(), value)
        elif k == "classargs":
            out["classArgs"] = value
        elif k == "codedir":
            out["codeDirectory"] = value
        elif k == "classfilename":
            out["_file"] = value
        elif k == "classname":
            out["className"] = value
        elif k in ("gpunum", "gpuindices", "includeintermediateresults"):
            continue
        else:
            raise ConfigError(f"{source}: {kind}.{key}: unknown key in a v1 {kind} section")
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
            for tk, tv in (value or {}).items():
                tn = _norm(tk)
                if tn == "command":
                    v2["trialCommand"] = tv
                elif tn == "codedir":
                    v2["trialCodeDirectory"] = tv
                elif tn == "gpunum":
                    v2["trialGpuNumber"] = tv
                else:
                    raise ConfigError(f"{source}: trial.{tk}: not supported when converting a v1 config")
        elif k in ("tuner", "assessor", "advisor"):
            v2[k] = _algorithm(k, value or {}, source)
        elif k == "localconfig":
            for lk, lv in (value or {}).items():
                ln = _norm(lk)
                service[{"useactivegpu": "useActiveGpu", "gpuindices": "gpuIndices",
                         "maxtrialnumpergpu": "maxTrialNumberPerGpu"}.get(ln, lk)] = lv
        elif k == "machinelist":
            machines = []
            for index, machine in enumerate(value or []):
                converted = {}
                for mk, mv in machine.items():
                    if _norm(mk) not in _MACHINE_KEYS:
                        raise ConfigError(f"{source}: machineList[{index}].{mk}: unknown key")
                    converted[_MACHINE_KEYS[_norm(mk)]] = mv
                machines.append(converted)
            service["machineList"] = machines
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

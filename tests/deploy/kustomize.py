"""A small kustomize, enough to render deploy/k8s without a kubectl binary.

It implements exactly the features the project's kustomizations use (resources, namespace,
labels, configMapGenerator (envs, literals, files, options.labels), images, strategic-merge
patches with an optional target) and refuses any other field, so a kustomization that grows a new feature fails loudly here
instead of being validated wrongly. Generated ConfigMaps keep their plain names (real
kustomize appends a content hash and rewrites the references; ``normalise`` strips those
hashes from kubectl's output so both renders compare equal).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "configMapGenerator", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"}
_HASHED = re.compile(r"^(?P<name>.+)-[a-z0-9]{10}$")


class KustomizeError(ValueError):
    pass


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def key(resource: dict) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (kustomize ``envs`` and compose ``env_file``); # comments."""
    data = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise KustomizeError(f"{path}: {line!r} is not KEY=VALUE")
        data[name.strip()] = value
    return data


def build(directory: Path) -> list[dict]:
    """The resources ``kustomize build directory`` would output (ConfigMap names unhashed)."""
    directory = Path(directory)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{directory}/kustomization.yaml uses {sorted(unknown)}, which this renderer "
                             "does not implement: extend tests/deploy/kustomize.py")
    resources: list[dict] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        resources += build(target) if target.is_dir() else load_documents(target)
    for generator in kustomization.get("configMapGenerator", []):
        _generate_config_map(directory, generator, resources)
    for patch in kustomization.get("patches", []):
        resources = _apply_patch(directory, patch, resources)
    namespace = kustomization.get("namespace")
    for resource in resources:
        if namespace and resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise KustomizeError("labels with includeSelectors/includeTemplates are not implemented")
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        for resource in resources:
            _set_image(resource, image)
    seen = set()
    for resource in resources:
        if key(resource) in seen:
            raise KustomizeError(f"{directory}: {key(resource)} is defined twice")
        seen.add(key(resource))
    return resources


def _generate_config_map(directory: Path, generator: dict, resources: list[dict]) -> None:
    data: dict[str, str] = {}
    for env_file in generator.get("envs", []):
        data.update(read_env_file(directory / env_file))
    for literal in generator.get("literals", []):
        name, _, value = literal.partition("=")
        data[name] = value
    for entry in generator.get("files", []):  # "path" or "key=path"; the key defaults to the file name
        name, sep, path = entry.partition("=")
        path = path if sep else name
        data[name if sep else Path(path).name] = (directory / path).read_text()
    options = generator.get("options", {})
    if set(options) - {"labels"}:
        raise KustomizeError(f"configMapGenerator options {sorted(set(options) - {'labels'})} are not implemented")
    behavior = generator.get("behavior", "create")
    existing = next((r for r in resources if key(r) == ("ConfigMap", generator["name"])), None)
    if behavior == "create":
        if existing is not None:
            raise KustomizeError(f"ConfigMap {generator['name']} already exists; use behavior: merge")
        metadata = {"name": generator["name"]}
        if options.get("labels"):
            metadata["labels"] = dict(options["labels"])
        resources.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    elif existing is None:
        raise KustomizeError(f"ConfigMap {generator['name']} to {behavior} does not exist")
    elif behavior == "merge":
        existing.setdefault("data", {}).update(data)
    elif behavior == "replace":
        existing["data"] = data
    else:
        raise KustomizeError(f"unknown generator behavior {behavior!r}")


def _matches(resource: dict, target: dict) -> bool:
    if "kind" in target and resource["kind"] != target["kind"]:
        return False
    if "name" in target and resource["metadata"]["name"] != target["name"]:
        return False
    if "labelSelector" in target:
        labels = resource["metadata"].get("labels") or {}
        for term in target["labelSelector"].split(","):
            name, _, value = term.partition("=")
            if labels.get(name.strip()) != value.strip():
                return False
    unknown = set(target) - {"kind", "name", "labelSelector"}
    if unknown:
        raise KustomizeError(f"patch target fields {sorted(unknown)} are not implemented")
    return True


def _apply_patch(directory: Path, patch: dict, resources: list[dict]) -> list[dict]:
    if "path" in patch:
        documents = load_documents(directory / patch["path"])
    else:
        documents = [doc for doc in yaml.safe_load_all(patch["patch"]) if doc]
    for document in documents:
        target = patch.get("target") or {"kind": document["kind"], "name": document["metadata"]["name"]}
        hits = [r for r in resources if _matches(r, target)]
        if not hits:
            raise KustomizeError(f"patch {patch.get('path') or target} matches no resource")
        if document.get("$patch") == "delete":
            resources = [r for r in resources if not _matches(r, target)]
            continue
        body = {k: v for k, v in document.items() if k not in ("apiVersion", "kind")}
        body["metadata"] = {k: v for k, v in body.get("metadata", {}).items() if k != "name"}
        for resource in hits:
            merge(resource, copy.deepcopy(body))
    return resources


def merge(into: dict, patch: dict) -> dict:
    """Strategic merge as used here: maps merge, lists of named items merge by name."""
    for name, value in patch.items():
        current = into.get(name)
        if isinstance(current, dict) and isinstance(value, dict):
            merge(current, value)
        elif isinstance(current, list) and isinstance(value, list) and _named(current) and _named(value):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    current.append(item)
        else:
            into[name] = value
    return into


def _named(items: list) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def containers_of(resource: dict) -> list[dict]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def _set_image(resource: dict, image: dict) -> None:
    for container in containers_of(resource):
        name, _, tag = container["image"].partition(":")
        if name != image["name"]:
            continue
        container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"


def normalise(resources: list[dict]) -> list[dict]:
    """Strip kustomize's ConfigMap name hashes (and rewrite the references to them)."""
    renames = {}
    for resource in resources:
        if resource["kind"] == "ConfigMap":
            match = _HASHED.match(resource["metadata"]["name"])
            if match:
                renames[resource["metadata"]["name"]] = match.group("name")

    def rewrite(value):
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return renames.get(value, value) if isinstance(value, str) else value

    return [rewrite(resource) for resource in resources]

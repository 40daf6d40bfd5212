"""What the server says about itself, all generated from copier.yml's questions: the metadata (JSON),
the plain-text help for curl and HTTPie, and the OpenAPI document."""

from __future__ import annotations

import textwrap
from typing import Any

from generator import __version__
from generator.web.fields import Field
from generator.web.prepare import Prepared

NOT_UPDATABLE = (
    "this server knows no git URL for its template, so downloaded projects record none and "
    "`gostarter update` cannot update them (start it with --template-url URL)"
)

NOT_UPDATABLE_PAGE = (
    "This server knows no git URL for its template: downloaded projects record none, so "
    "gostarter update and Renovate cannot update them."
)
NO_VERIFY_PAGE = (
    "Verification before download is off on this server: run gostarter verify (or make verify) "
    "in the project you download."
)


def metadata(fields: list[Field], prepared: Prepared) -> dict[str, Any]:
    return {
        "template": {
            "version": prepared.version,
            "source": prepared.source,
            "updatable": bool(prepared.source),
        },
        "questions": [field.metadata() for field in fields],
        "formats": ["zip", "tgz"],
        "gostarter": __version__,
    }


def _example(fields: list[Field]) -> str:
    first = fields[0].name if fields else "app_name"
    return "payments" if first == "app_name" else str(fields[0].default)


def help_text(fields: list[Field], prepared: Prepared, base: str, agent: str) -> str:
    """Every parameter with its type, default and choices, and a command to copy."""
    first = fields[0].name if fields else "app_name"
    example = f"{first}={_example(fields)}"
    if agent.startswith("httpie/"):
        command = f"http --form POST {base}/starter.tgz {example} | tar xz"
    else:
        command = f"curl -fsSL {base}/starter.tgz -d {example} | tar xz"
    lines = [
        f"gostarter initializr: template {prepared.version}",
        "",
        "Generate a project (every answer is optional; each one you leave out takes its default):",
        "",
        f"  {command}",
        f"  curl -fsSLOJ {base}/starter.zip -d {example} -d port=9090",
        "",
        "Parameters (query parameters or form fields):",
    ]
    for field in fields:
        lines.append("")
        lines.append(
            f"  {field.name} ({field.type})  default: {field.default!r}"
            + ("  required" if field.required else "")
        )
        if field.choices:
            lines.append(f"      one of: {', '.join(str(choice.value) for choice in field.choices)}")
        lines += textwrap.wrap(field.help, 96, initial_indent="      ", subsequent_indent="      ")
    lines += [
        "",
        "Endpoints:",
        "  GET|POST /starter.zip, /starter.tgz   the project (one folder named after app_name)",
        "  GET|POST /api/validate                Copier's verdict on the answers (JSON)",
        "  GET|POST /api/preview                 the files the answers produce (JSON)",
        "  GET /metadata                         the questions (JSON); GET /openapi.json: this API",
        "",
        "A refused answer is 400 with JSON {status, error, message, field}.",
    ]
    if not prepared.source:
        lines += ["", f"Note: {NOT_UPDATABLE}."]
    return "\n".join(lines) + "\n"


def _parameter(field: Field) -> dict[str, Any]:
    """A question as a parameter: its label is the schema's title, its section `x-section`."""
    schema: dict[str, Any] = {"type": field.schema_type, "title": field.label, "x-section": field.section}
    if field.default is not None:
        schema["default"] = field.default
    if field.choices:
        schema["enum"] = [choice.value for choice in field.choices]
    return {"name": field.name, "in": "query", "required": False, "description": field.help, "schema": schema}


def _error_responses() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "400": {"description": "a refused answer or an unknown parameter", "content": error},
        "413": {"description": "a body over the size cap", "content": error},
        "414": {"description": "a query over the size cap", "content": error},
    }


def _answers_operations(summary: str, ok: dict[str, Any], fields: list[Field]) -> dict[str, Any]:
    properties = {field.name: _parameter(field)["schema"] | {"description": field.help} for field in fields}
    body = {"type": "object", "properties": properties, "additionalProperties": False}
    responses = {"200": ok, **_error_responses()}
    return {
        "get": {
            "summary": summary,
            "parameters": [_parameter(field) for field in fields],
            "responses": responses,
        },
        "post": {
            "summary": summary,
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": body}}},
            "responses": responses,
        },
    }


def openapi(fields: list[Field], prepared: Prepared) -> dict[str, Any]:
    """OpenAPI 3.1 for this template: each question a parameter with its type, default and choices."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    json_object = {"application/json": {"schema": {"type": "object"}}}
    archive_ok = {"description": "the project", "headers": {"ETag": {"schema": {"type": "string"}}}}
    paths = {
        "/starter.zip": _answers_operations(
            "the project as a zip", archive_ok | {"content": {"application/zip": binary}}, fields
        ),
        "/starter.tgz": _answers_operations(
            "the project as a tar.gz", archive_ok | {"content": {"application/gzip": binary}}, fields
        ),
        "/api/validate": _answers_operations(
            "Copier's verdict on the answers", {"description": "the verdict", "content": json_object}, fields
        ),
        "/api/preview": _answers_operations(
            "the files the answers produce", {"description": "the files", "content": json_object}, fields
        ),
        "/metadata": {
            "get": {
                "summary": "the questions",
                "responses": {"200": {"description": "metadata", "content": json_object}},
            }
        },
        "/healthz": {
            "get": {
                "summary": "liveness",
                "responses": {"200": {"description": "ok", "content": json_object}},
            }
        },
    }
    error_schema = {
        "type": "object",
        "required": ["status", "error", "message"],
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "gostarter initializr", "version": prepared.version},
        "paths": paths,
        "components": {"schemas": {"Error": error_schema}},
    }

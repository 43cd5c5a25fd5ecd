"""Approvals: canonical keys, the approval cache, config rules, approvers and the chain.

Policies (the Codex CLI meanings; :class:`~pytest_codex.orchestrator.ToolOrchestrator`
applies them):

``never``
    Never asks anyone and never escalates. What needs fresh consent fails fast with
    :class:`~pytest_codex.errors.ApprovalRefusedError` unless a rule or a cached grant
    already allows it; a sandbox denial fails with
    :class:`~pytest_codex.errors.SandboxDeniedError` whatever rules and grants say.
``on-request`` (default)
    Asks when the invocation declares ``requires_approval=True``, and to escalate after a
    sandbox denial.
``on-failure``
    Asks only to escalate after a sandbox denial.
``untrusted``
    Asks for everything except known-safe read-only commands (:func:`is_known_safe`; a
    Python callable only when it declares ``safe=True``), and to escalate after a sandbox
    denial.

The chain answers each question in order: config rules (deny first), then the cache, then
the approver (never under ``never``). Escalation is a question of its own: its key is
marked ``escalate``, a plain allow rule does not answer it (only ``escalate: true`` ones
do) and a grant to run a command does not cover it.

Keys. An :class:`ApprovalKey` is (tool, argv, cwd, permissions, escalate), matched by the
SHA-256 of the *raw* argv (after shell wrappers are unwrapped, see
:func:`~pytest_codex.approvals.rules.canonical_command`) and shown with ``argv`` redacted.
``permissions`` are the sandbox permissions the invocation asks for *beyond the sandbox the
orchestrator is configured with* (empty: "run it in the configured sandbox"). Its text
form::

    <tool>[cwd=<dir>;perms=<p>,<p>;prefix;escalate;sha=<digest>]:<argv, shell-quoted>

with the bracket part (and each item in it) present only when set, ``sha=`` only when the
shown argv is redacted (so two commands that redact alike keep two keys), e.g.
``shell:git status`` or ``shell[cwd=/repo;perms=network;escalate]:curl https://example.org``.

Coverage. A remembered grant (or denial) *covers* a request when all of these hold:

- same tool; a request to escalate is covered only by an ``escalate`` grant;
- argv: the same raw argv (equal digests), or, for a ``prefix`` grant, the request's shown
  argv starts with the grant's;
- cwd: the grant has none, or the request's cwd is the grant's or below it;
- permissions: the request's are a subset of the grant's (a grant for
  ``{write-outside-workspace, network}`` covers a request for ``{network}`` and for none).

When both a grant and a denial cover a request, the denial wins; remembering a decision for
a key replaces any earlier decision for the very same key.

Scopes: ``once`` is never remembered, ``session`` lives in the :class:`ApprovalCache`
instance, ``task`` is persisted to ``<runs_dir>/<task>/approvals.json`` (version 2, under a
file lock, written atomically) and survives runs. Nothing stored holds a secret value: argv
is stored redacted next to the digest it is matched by, reasons are redacted, and only
metadata is kept. A version-1 file is migrated when read (see
:func:`~pytest_codex.approvals.store._migrate_v1`).

Modules: :mod:`.keys` (policies, scopes, :class:`ApprovalKey`), :mod:`.store` (grants, the
cache, ``approvals.json``, list/revoke), :mod:`.rules` (allow/deny rules, shell
canonicalisation, known-safe commands), :mod:`.approvers` and :mod:`.chain`. Dependencies run
one way: ``keys <- store, rules <- approvers <- chain``; this module only re-exports.
"""

from __future__ import annotations

from ..records import ApprovalRecord
from .approvers import (
    ApprovalAnswer,
    ApprovalRequest,
    Approver,
    CallbackApprover,
    DenyApprover,
    ScriptedApprover,
    TtyApprover,
    coerce_approver,
    default_approver,
    to_answer,
)
from .chain import ApprovalChain, Resolution
from .keys import (
    APPROVAL_POLICIES,
    SCOPES,
    ApprovalKey,
    ApprovalPolicy,
    ApprovalSource,
    Decision,
    Scope,
    argv_digest,
    validate_policy,
    validate_scope,
)
from .rules import (
    SAFE_COMMANDS,
    SAFE_GIT_SUBCOMMANDS,
    SHELLS,
    ApprovalRules,
    RuleMatch,
    canonical_command,
    is_known_safe,
    shell_script,
    split_shell_script,
)
from .store import (
    APPROVALS_FILE,
    FILE_VERSION,
    ApprovalCache,
    Grant,
    approvals_path,
    list_approvals,
    load_task_grants,
    revoke_approvals,
    revoke_task_grants,
)

__all__ = [
    "APPROVALS_FILE",
    "APPROVAL_POLICIES",
    "FILE_VERSION",
    "SAFE_COMMANDS",
    "SAFE_GIT_SUBCOMMANDS",
    "SCOPES",
    "SHELLS",
    "ApprovalAnswer",
    "ApprovalCache",
    "ApprovalChain",
    "ApprovalKey",
    "ApprovalPolicy",
    "ApprovalRecord",
    "ApprovalRequest",
    "ApprovalRules",
    "ApprovalSource",
    "Approver",
    "CallbackApprover",
    "Decision",
    "DenyApprover",
    "Grant",
    "Resolution",
    "RuleMatch",
    "Scope",
    "ScriptedApprover",
    "TtyApprover",
    "approvals_path",
    "argv_digest",
    "canonical_command",
    "coerce_approver",
    "default_approver",
    "is_known_safe",
    "list_approvals",
    "load_task_grants",
    "revoke_approvals",
    "revoke_task_grants",
    "shell_script",
    "split_shell_script",
    "to_answer",
    "validate_policy",
    "validate_scope",
]

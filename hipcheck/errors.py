"""Every error hipcheck reports to a user, as one hierarchy.

Each carries a one-line message that says what was wrong, where, and what to do; the CLI
maps each branch to an exit code (see docs/cli.md).

    HipcheckError
    ├── UsageError              bad input from the user (exit 2)
    │   ├── TargetError         the target is not a usable git repository
    │   └── PolicyError         the policy file does not parse or validate
    └── RunError                a plugin or internal failure prevented a result (exit 3)
        ├── ArtifactError       a plugin artifact is missing, tampered with, or unpinned
        ├── EnvError            a plugin's virtualenv could not be built
        ├── DiscoveryError      an installed plugin or its manifest is unusable
        └── PluginError         a plugin process failed: start, handshake, configure, query
"""

from __future__ import annotations


class HipcheckError(Exception):
    """Root of every error hipcheck reports to a user."""

    exit_code = 3


class UsageError(HipcheckError):
    """The user's input (arguments, target, policy) is wrong."""

    exit_code = 2


class TargetError(UsageError):
    """The target is not something hipcheck can analyse."""


class PolicyError(UsageError):
    """The policy file or one of its expressions is invalid."""


class RunError(HipcheckError):
    """A plugin or internal failure prevented a result."""

    exit_code = 3


class ArtifactError(RunError):
    """A plugin artifact is missing, was tampered with, or does not match its pinned hash."""


class EnvError(RunError):
    """A plugin's virtualenv could not be built or verified."""


class DiscoveryError(RunError):
    """An installed plugin or its manifest is unusable."""


class PluginError(RunError):
    """A plugin process failed to start, answer, or follow the protocol."""

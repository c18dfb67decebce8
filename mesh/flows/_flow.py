"""``Flow``: processors joined by the names of their inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterable

from mesh import UsageError

from ._processor import Processor


class Flow:
    """A set of processors; ``Flow.from_tasks(a, b).resolve()`` checks that it can run.

    An output of one processor feeds every processor that names it as an input. The inputs that
    no processor produces are the flow's inputs (``flow.inputs``), given to ``start_flow``.
    """

    def __init__(self, processors: Iterable[Processor]) -> None:
        self.processors = tuple(processors)
        for processor in self.processors:
            if not isinstance(processor, Processor):
                raise UsageError(f"a flow is made of Processor objects, not {processor!r}")
        names = [p.name for p in self.processors]
        if not names:
            raise UsageError("a flow needs at least one processor")
        if len(set(names)) != len(names):
            raise UsageError(f"a flow names each processor once, not {sorted(names)}")
        self.resolved = False

    @classmethod
    def from_tasks(cls, *processors: Processor) -> Flow:
        """The flow of ``processors``; call :meth:`resolve` before starting it."""
        return cls(processors)

    def __repr__(self) -> str:
        return f"Flow({[p.name for p in self.processors]})"

    @property
    def producers(self) -> dict[str, Processor]:
        """Each output's processor."""
        return {output: p for p in self.processors for output in p.outputs}

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names the processors read that none of them produces, in order of first use."""
        produced = self.producers
        names = [name for p in self.processors for name in p.inputs if name not in produced]
        return tuple(dict.fromkeys(names))

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names produced that no processor of the flow reads: what ``start_flow`` returns."""
        read = {name for p in self.processors for name in p.inputs}
        return tuple(name for p in self.processors for name in p.outputs if name not in read)

    def resolve(self, inputs: Iterable[str] | None = None) -> Flow:
        """Check that the flow can run, and return it.

        ``inputs``, when given, are the names ``start_flow`` will be given values for: then every
        input must be one of them or be produced by a processor (``start_flow`` checks its values
        the same way in any case).

        Raises:
            UsageError: two processors produce one output; the processors form a cycle; an input
                is produced by nobody (with ``inputs``), or a given input is also produced.
        """
        owner: dict[str, str] = {}
        for p in self.processors:
            for output in p.outputs:
                if output in owner:
                    raise UsageError(f"output {output!r} has two producers: {owner[output]!r} and {p.name!r}")
                owner[output] = p.name
        self._refuse_cycles()
        if inputs is not None:
            self.check_inputs(set(inputs))
        self.resolved = True
        return self

    def check_inputs(self, given: set[str]) -> None:
        """Refuse ``given`` input names that miss an input of the flow or that a processor produces."""
        missing = [name for name in self.inputs if name not in given]
        if missing:
            readers = {name: [p.name for p in self.processors if name in p.inputs] for name in missing}
            raise UsageError(f"inputs nobody produces: {readers} (no processor outputs them and no value is given)")
        produced = sorted(given & set(self.producers))
        if produced:
            raise UsageError(f"inputs {produced} are produced by processors of the flow: they cannot be given too")
        unknown = sorted(given - set(self.inputs))
        if unknown:
            raise UsageError(f"values given for {unknown}, which no processor of the flow reads")

    def _refuse_cycles(self) -> None:
        producers = self.producers
        after = {p.name: [producers[i].name for i in p.inputs if i in producers] for p in self.processors}
        done: set[str] = set()

        def visit(name: str, path: list[str]) -> None:
            if name in path:
                cycle = [*path[path.index(name) :], name]
                raise UsageError(f"the flow has a cycle: {' -> '.join(reversed(cycle))}")
            if name in done:
                return
            for before in after[name]:
                visit(before, [*path, name])
            done.add(name)

        for p in self.processors:
            visit(p.name, [])

    def mermaid(self) -> str:
        """The flow as a Mermaid flowchart: processors as boxes, IO streams as rounded nodes."""
        lines = ["flowchart LR"]
        for p in self.processors:
            lines.append(f"    {_id('p', p.name)}[{p.name}]")
        for name in dict.fromkeys(n for p in self.processors for n in (*p.inputs, *p.outputs)):
            lines.append(f"    {_id('io', name)}([{name}])")
        for p in self.processors:
            lines += [f"    {_id('io', name)} --> {_id('p', p.name)}" for name in p.inputs]
            lines += [f"    {_id('p', p.name)} --> {_id('io', name)}" for name in p.outputs]
        return "\n".join(lines)


def _id(kind: str, name: str) -> str:
    return kind + "_" + "".join(c if c.isalnum() else "_" for c in name)

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio

from mesh import Global
from mesh.flows import Depends, IO, IOVal, Flow, Supervisor, Processor

# some externally-defined 'thing'
def get_multiplier():
    return 2

# define some tasks with some named inputs and outputs
foobar = Processor(
    name="foobar",
    inputs=["foo"],
    outputs=["bar"]
)

# register the task to some function.
# this doesn't necessarily need to exist in the same repo / application / service that starts the Flow
@foobar
async def _foobar(
    foo: IO[int],
    # multiplier is a non-IO dependency and will resolve properly
    multiplier: Annotated[int, Depends(get_multiplier)],
) -> AsyncIterator[IOVal[int]]:
    # fetch the first (and only) value in the 'foo' IO stream
    foo_val = await foo.first()

    # yield individual values into the IO stream 'bar'
    for i in range(foo_val):
        yield IOVal(name="bar", value=i * multiplier)


async def main():
    # create a flow from tasks
    flow = Flow.from_tasks(foobar)

    # resolve the Flow. this is required, and ensures the Flow is actually executable.
    # you can also do `.from_tasks(...).resolve()`
    flow.resolve()

    result: dict[str, IO[Any]] = await Supervisor.instance.start_flow(
        flow,
        inputs=[IOVal(name="foo", value=5)]
    )

    # concurrently stream the results as they complete. this will loop until foobar
    # has yielded all it's values to the 'bar' IO stream
    async for val in result["bar"].stream():
        print(val)


# the Supervisor is a global singleton responsible for coordinating
# local task execution. it is the means through which you define
# the Datagraph Redis client, Executor, or other configuration options.
# this can be done anywhere in your application, either in the import scope
# or within some entrypoint, but MUST be defined in every service that provides
# an implementation for a Processor.
#
# nothing _strictly_ requires the executor to match across all services, but properly handling
# that behavior is undefined / unsupported.
Supervisor.attach(Global(process_name="datagraph", init_controller=True))

# for the sake of example, this is the same as starting a Flow from within
# some running application service / endpoint
anyio.run(main, backend="trio")
# >>> 0
# >>> 2
# >>> 4
# >>> 6
# >>> 8

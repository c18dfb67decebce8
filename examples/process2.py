"""Lets make process 2 asynchronous! Daffi works great with any type of applications"""
import asyncio
from mesh import Global, callback, BG


@callback
async def func1(a: int, b: int) -> int:
    """Subtracts 2 numbers and return delta"""
    return a - b


@callback
def func2() -> None:
    """Just print text to console"""
    print('Func2 has been triggered!')



async def remote_process_executor(g: Global):
    """Execute remote callbacks"""
    for _ in range(5):
        future = g.call.func3(4, 6) & BG

        # Do smth while result is processing
        await asyncio.sleep(2)

        # Get result
        result = await future.get_async()
        print(f"Calculated sum is {result!r}")


async def main():
    """Main entrypoint"""

    process_name = 'proc2'

    g = Global(process_name=process_name, host='localhost', port=8888)
    asyncio.create_task(remote_process_executor(g))

    # Wait forever
    await g.join_async()


if __name__ == '__main__':
   asyncio.run(main())

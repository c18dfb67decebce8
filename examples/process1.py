import time
import threading
from mesh import Global, callback, FG, NO_RETURN


@callback
def func3(a: int, b: int) -> int:
    """Add 2 numbers and return sum"""
    # Simulate long running job
    time.sleep(3)
    return a + b


def remote_process_executor(g: Global):
    """Execute remote callbacks"""

    for _ in range(10):
        delta = g.call.func1(10, 3) & FG

        print(f'Calculated delta = {delta}')

        g.call.func2() & NO_RETURN

        time.sleep(5)


def main():
    """Main entrypoint"""
    process_name = 'proc1'

    g = Global(process_name=process_name, init_controller=True, host='localhost', port=8888)

    g.wait_process('proc2')

    re = threading.Thread(target=remote_process_executor, args=(g,))
    re.start()
    re.join()

    g.stop()


if __name__ == '__main__':
   main()

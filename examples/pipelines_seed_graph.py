"""The pipelines seed's test graph (tests/test_plumber.py and tests/test_workflow.py there).

inp -> n1; n1 -> n2, n3; n2 -> n3, n4; n3 -> n4, with n4 non-aggregated. Unchanged but for the
import lines, the sleeps (a hundredth of the seed's, which add up to minutes), ``output_str`` also
keeping what it prints in ``StringFunc.outputs``, and the end: ``main`` runs the pipeline to its end
instead of the loop running forever. Run: ``python -m examples.pipelines_seed_graph``.
"""

import asyncio
import uuid
import itertools

from mesh.pipelines import Plumber


class ProcessorGroup(type):
	pass

class StringFunc(ProcessorGroup):
	outputs = []

	@classmethod
	async def input_str(cls, self, q_out, num:int=None):
		acc = []
		for _ in range(num):
			acc.append(str(uuid.uuid4()))
		
		for i in acc:
			print(f":. input ~> {i}")
			await q_out.put(i)
			await asyncio.sleep(acc.index(i) % 4 / 100)
	
	@classmethod
	async def output_str(cls, self, q_elt):
		print('output_str: ', q_elt)
		cls.outputs.append(q_elt)

	@classmethod
	async def reverse(cls, self, q_elt:tuple, idx=itertools.count()):
		await asyncio.sleep(next(idx) / 100)
		return q_elt[0][::-1]

	@classmethod
	async def toupper(cls, self, q_elt:tuple):
		q_elt, = q_elt
		return q_elt.upper()
	
	@classmethod
	async def tolower(cls, self, q_elt:tuple):
		q_elt,q_elt_2 = q_elt
		return q_elt.lower()


def getcoro(name):
	d = {
		'StringFunc.reverse' : StringFunc.reverse,
		'StringFunc.toupper' : StringFunc.toupper,
		'StringFunc.tolower' : StringFunc.tolower,
		'StringFunc.input_str': StringFunc.input_str,
		'StringFunc.output_str': StringFunc.output_str,

	}

	if callable(name):
		return name
	else:
		return d[name]

input_d = {
	'nodes': {
		'inp': {'coro': StringFunc.input_str, 'args': { 'num': 20 }},
		'n1' : {'coro': StringFunc.reverse }, 
		'n2' : {'coro': 'StringFunc.toupper'},
		'n3' : {'coro': 'StringFunc.tolower'},
		'n4' : {'coro': 'StringFunc.output_str', 'properties': {'aggregate_inputs': False}},
	},
	'graph': {
		'inp': ('n1',),
		'n1' : ('n2', 'n3'),
		'n2' : ('n3', 'n4'),
		'n3' : ('n4',),
		'n4' : None,
	},
}

async def main():
	_t = Plumber(input_d, coro_map = getcoro )
	for _q in _t.nodes:
		print(f":. name ~> {_q.name}, coro ~> {_q.processor_coro}")
	await _t.run()
	return _t


if __name__ == '__main__':
	asyncio.run(main())

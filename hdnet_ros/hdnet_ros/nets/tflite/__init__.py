"""A TFLite file rebuilt as a PyTorch module, op by op (one subgraph, channels last in and out).

* :mod:`.schema`: the flatbuffer, through the schema reader that ships with ai-edge-litert:
  op kinds, topology and the options the interpreter does not expose, normalised;
* :mod:`.graph`: the typed graph (tensors, constants, ops) read through the LiteRT
  interpreter and checked against the flatbuffer; the ops an output depends on;
* :mod:`.float_steps`: one float torch step per TFLite op kind (NCHW inside);
* :mod:`.int8_steps`: the exact int8 steps (XNNPACK's integer arithmetic, in float32);
* :mod:`.module`: :class:`~.module.TfliteModule`, the ``nn.Module`` that runs the ops a
  chosen set of output tensors needs;
* :mod:`.onnx_export`: ONNX export with a dynamic batch axis.

Nothing here knows a particular network: which tensors are a network's outputs, what they
are called and what its input is belong to the network's own module (``nets.movenet``,
``nets.blazepose``). This ``__init__`` imports nothing: ``graph`` and ``schema`` need no
torch, the other modules do.
"""

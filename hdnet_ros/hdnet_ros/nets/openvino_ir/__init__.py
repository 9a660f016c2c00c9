"""An OpenVINO IR (``.xml`` + ``.bin``) converted to ONNX, op by op, for onnxruntime and TensorRT.

* :mod:`.graph`: the IR read into typed layers, ports, edges and constants, checked
  (version, edges, shapes, the weights' offsets in the ``.bin``), in topological order;
* :mod:`.constant_ops`: numpy evaluations of the ops that compute constants (the Const ->
  Convert chains of compressed weights, the shape sub-graphs behind ShapeOf);
* :mod:`.folding`: every value that does not depend on the input, computed once
  (ShapeOf reads the IR's static shapes);
* :mod:`.onnx_builder`: the ONNX graph under construction (tensor names, initializers);
* :mod:`.onnx_ops`: one function per IR op type writing its ONNX equivalent, with the
  attributes it understands; anything else is an error naming the layer;
* :mod:`.convert`: :func:`~.convert.ir_to_onnx` (the whole conversion, options for a
  dynamic batch and for dropping outputs, the shape check) and the conversion key the
  export caches use.

Nothing here knows a particular network: what an output means and how its input is
prepared belong to the network's codec. No content of the files is ever executed: the XML
is parsed without a DTD, the weights are read as flat arrays at the offsets the XML gives.
This ``__init__`` imports nothing: reading and folding need numpy only, the ONNX modules
need the onnx package.
"""

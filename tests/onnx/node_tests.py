"""Writes ONNX's backend node tests (onnx/backend/test/data/node/test_*) into a directory.

The onnx wheel ships the test cases as Python (onnx/backend/test/case/node/*.py, each op's
examples with their expected outputs computed by ONNX's reference code) but no longer the
generated model.onnx / input_*.pb / output_*.pb files. This writes them the way ONNX's own
`backend-test-tools generate-data` does, node tests only.

    python tests/onnx/node_tests.py OUT_DIR
"""

import sys
import warnings

import onnx
import onnx.backend.test.case.model as model_cases
import onnx.backend.test.case.node as node_cases
from onnx.backend.test import cmd_tools


class Args:
    output = sys.argv[1]


warnings.simplefilter("ignore")
# generate_data writes every case model_cases.collect_testcases() returns; give it the node
# cases only (the model cases download real models).
model_cases.collect_testcases = node_cases.collect_testcases
cmd_tools.generate_data(Args())
print(f"onnx {onnx.__version__}: node tests written to {Args.output}/node")

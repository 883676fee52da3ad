"""Tile-to-tile across sockets: ``out = z + x * scale``, x in one socket, z and out in another.

Socket ``src``: the AGCU streams ``x`` (flow 0) into its PCU, which scales it
(``y = x * scale``); ``y`` (flow 1) reaches the AGCU node and leaves on the link
to socket ``dst``, never touching ``src``'s memory. Socket ``dst``: the link
node pairs each received ``y`` vector with the AGCU's next ``z`` vector (flow 2),
both enter its PCU, which adds the pair (``z + y``) and sends the sum (flow 3) to
its AGCU, which writes it to ``dst``'s memory.
"""

import numpy as np

from hdl.agcu.arguments import READ, WRITE, StreamDescriptor, argument_words
from hdl.system.config import SystemParams
from testbench.programs.vector_add import pcus
from testbench.runtime.program import AGCU, ProgramBuilder

from .kernels import golden_vectors, interleave, pair_add_config, scale_config
from .link_program import linked_image
from .script import SystemScript

__all__ = ["FLOW_X", "FLOW_Y", "FLOW_Z", "FLOW_SUM", "cross_socket_add_script",
           "cross_socket_add_golden"]

FLOW_X, FLOW_Y, FLOW_Z, FLOW_SUM = 0, 1, 2, 3


def _producer(system: SystemParams, src: int, dst: int, vectors: int, scale_bits: int):
    cfg = system.socket_rdu(src)
    (pcu,) = pcus(cfg, 1)
    image = (ProgramBuilder(cfg).flow(FLOW_X, AGCU, [pcu]).flow(FLOW_Y, pcu, [AGCU])
             .unit(pcu, scale_config(cfg, vectors, scale_bits)).done_tokens([pcu]).build())
    return linked_image(system, src, image, routes={FLOW_Y: (dst, FLOW_Y)})


def _consumer(system: SystemParams, dst: int, vectors: int):
    cfg = system.socket_rdu(dst)
    (pcu,) = pcus(cfg, 1)
    image = (ProgramBuilder(cfg).flow(FLOW_Y, AGCU, [pcu]).flow(FLOW_Z, AGCU, [pcu])
             .flow(FLOW_SUM, pcu, [AGCU]).unit(pcu, pair_add_config(cfg, vectors))
             .done_tokens([pcu]).build())
    return linked_image(system, dst, image, pair=(FLOW_Z, FLOW_Y), take=vectors)


def cross_socket_add_script(system: SystemParams, x, z, scale_bits: int, src: int = 0,
                             dst: int = 1) -> SystemScript:
    """A script computing ``z + x * scale`` (uint32 words, vectors x lanes); output
    ``out`` (dst's memory), launches ``producer`` and ``consumer``, phase ``kernels``."""
    cfg = system.socket_rdu(dst)
    x = np.asarray(x, np.uint32).reshape(-1, cfg.lanes)
    z = np.asarray(z, np.uint32).reshape(x.shape)
    vectors = len(x)
    producer = _producer(system, src, dst, vectors, scale_bits)
    consumer = _consumer(system, dst, vectors)
    script = SystemScript(system)
    x_addr = script.write(src, x, "x")
    z_addr = script.write(dst, z, "z")
    out_addr = script.allocate(dst, z.nbytes, "out")
    script.load(src, producer)
    script.load(dst, consumer)
    script.barrier("load")
    script.launch(src, argument_words(
        [StreamDescriptor(READ, FLOW_X, x_addr, (vectors, 1, 1), (1, 0, 0))], done_tokens=1),
        "producer")
    script.launch(dst, argument_words(
        [StreamDescriptor(READ, FLOW_Z, z_addr, (vectors, 1, 1), (1, 0, 0)),
         StreamDescriptor(WRITE, FLOW_SUM, out_addr, (vectors, 1, 1), (1, 0, 0))],
        done_tokens=1), "consumer")
    script.barrier("kernels")
    script.read(dst, "out", out_addr, z.size)
    return script


def cross_socket_add_golden(system: SystemParams, x, z, scale_bits: int, src: int = 0,
                            dst: int = 1) -> np.ndarray:
    """The PCU golden model of both sockets' passes: ``out`` as uint32 words."""
    first, second = system.socket_rdu(src), system.socket_rdu(dst)
    x = np.asarray(x, np.uint32).reshape(-1, first.lanes)
    z = np.asarray(z, np.uint32).reshape(x.shape)
    y = golden_vectors(first, scale_config(first, len(x), scale_bits), x)
    return golden_vectors(second, pair_add_config(second, len(x)),
                          interleave(z, y)).reshape(-1)

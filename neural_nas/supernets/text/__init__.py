"""Text classification super-networks: ``bert_base_sst2`` (`supernet`), an elastic BERT (`bert_model`), its exact
costs (`bert_shape`), the GLUE SST-2 data and tokenizer (`sst2_data`) and how its sub-networks are measured
(`measurer`).

Importing this package registers the super-network with `supernet` and `bert_shape` alone (numpy only); the others
import torch and the ``tokenizers`` library on first use.
"""

from neural_nas.supernets.text.supernet import BertSST2SuperNetwork, bert_encoding

__all__ = ["BertSST2SuperNetwork", "bert_encoding"]

"""Drop-in import path of the reference: ``neural_nas.conf.config``."""

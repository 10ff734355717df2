"""The same experiment in NNI 3.0's form: the tuner is named in the config."""

from pathlib import Path

from nni.experiment import Experiment

search_space = {
    "dropout_rate": {"_type": "uniform", "_value": [0.5, 0.9]},
    "conv_size": {"_type": "choice", "_value": [2, 3, 5, 7]},
    "hidden_size": {"_type": "choice", "_value": [124, 512, 1024]},
    "batch_size": {"_type": "choice", "_value": [16, 32]},
    "learning_rate": {"_type": "choice", "_value": [0.0001, 0.001, 0.01, 0.1]},
}

experiment = Experiment("local")
experiment.config.experiment_name = "mnist-v3"
experiment.config.trial_command = "python3 mnist.py"
experiment.config.trial_code_directory = Path(__file__).parent
experiment.config.search_space = search_space
experiment.config.tuner.name = "TPE"
experiment.config.tuner.class_args["optimize_mode"] = "minimize"  # mnist.py reports the validation error
experiment.config.assessor = {"name": "Medianstop", "classArgs": {"optimize_mode": "minimize"}}
experiment.config.max_trial_number = 5
experiment.config.trial_concurrency = 2

if __name__ == "__main__":
    experiment.run(8082)

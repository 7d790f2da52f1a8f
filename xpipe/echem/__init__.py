"""Electrochemistry: readers that turn battery-cycler files into one table."""
